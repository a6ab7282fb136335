"""Regression tests for what a black-box client found against a running server (issue 12):
lists short under category_cap, empty complements, duplicate titles, searches that never say
"nothing matches", unbounded ids, previews counted as served, /docs from a CDN, lax JSON."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartwise.data.sources.demo import DemoConfig, DemoData, build_demo_store
from cartwise.data.store import Store
from cartwise.serving.engine import Engine
from conftest import ids, make_client, recs


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, DemoData, Engine]:
    root = tmp_path_factory.mktemp("demo-defects")
    store = Store.open(root / "store.db")
    data = build_demo_store(store, DemoConfig(n_items=600, n_users=400))
    engine = Engine(store, root / "models")
    engine.train("itemknn")
    return make_client(engine), data, engine


def test_category_cap_fills_the_list_to_k(demo: tuple[TestClient, DemoData, Engine]) -> None:
    client, data, _ = demo
    for user in [u.id for u in data.users[:40]]:
        body = recs(client, user, k=10, diversity="category_cap", max_per_category=2)
        leaves = Counter(i["item"]["category"][-1] for i in body["items"])
        assert len(body["items"]) == 10, (user, leaves)
        assert max(leaves.values()) <= 2


def test_complements_of_every_phone_fit_it(demo: tuple[TestClient, DemoData, Engine]) -> None:
    client, data, _ = demo
    phones = [i for i in data.items if i.category[-1] == "Phones"]
    declared = {i.id: i.attributes.get("compatible_with") for i in data.items}
    assert len(phones) >= 10
    for phone in phones:
        body = client.get(f"/items/{phone.id}/complements", params={"k": 5}).json()
        got = ids(body)
        assert got, f"no complements for {phone.id} {phone.title}"
        # never an accessory declared for another product
        assert all(declared[i] in (None, phone.id) for i in got), (phone.id, got)
        made_for = [i.id for i in data.items if declared[i.id] == phone.id and i.available]
        if made_for:
            assert set(got) & set(made_for)


def test_lists_show_one_item_per_title_unless_asked(tmp_path: Path, store: Store) -> None:
    store.upsert_items(
        [
            *(store.get_item(i) for i in ("p5",)),
            store.get_item("p5").model_copy(update={"id": "p5-red", "price": 21.0}),
            store.get_item("p5").model_copy(update={"id": "p5-blue", "price": 22.0}),
        ]
    )
    engine = Engine(store, tmp_path / "models")
    engine.train("popularity")
    with make_client(engine) as client:
        grouped = [i["item"]["title"] for i in recs(client, "nobody", k=10)["items"]]
        every = [
            i["item"]["title"] for i in recs(client, "nobody", k=10, all_variants=True)["items"]
        ]
    assert grouped.count("Phone X Case") == 1 and len(grouped) == len(set(grouped))
    assert every.count("Phone X Case") == 3


def test_demo_lists_have_no_duplicate_titles(demo: tuple[TestClient, DemoData, Engine]) -> None:
    client, data, _ = demo
    titles = Counter(i.title for i in data.items)
    assert any(n > 1 for n in titles.values())  # the catalog does hold variants
    for user in [u.id for u in data.users[:60]]:
        shown = [i["item"]["title"] for i in recs(client, user, k=20)["items"]]
        assert len(shown) == len(set(shown)), (user, shown)


@pytest.mark.parametrize("query", ["zzzzqqqx", "qwrtpsdfgh"])
def test_a_search_for_nothing_says_so(client: TestClient, query: str) -> None:
    body = client.post("/search", json={"query": query}).json()
    assert body["items"] == []
    assert body["message"] == f"nothing in the catalog matches '{query}'; try other words"
    assert client.post("/search", json={"query": "phone"}).json()["items"]


def test_a_semantic_search_for_nothing_says_so(demo: tuple[TestClient, DemoData, Engine]) -> None:
    from cartwise.search import hybrid_factory
    from cartwise.text.encoder import HashingEncoder

    _, _, engine = demo
    semantic = Engine(engine.store, engine.versions.root, matcher=hybrid_factory(HashingEncoder()))
    assert semantic.search("zzzzqqqx").items == []
    assert semantic.search("running shoes").items  # real words still find items


@pytest.mark.parametrize(
    "path",
    ["/users/{id}/recommendations", "/items/{id}/similar", "/items/{id}", "/users/{id}/events"],
)
def test_ids_are_bounded_on_every_path(client: TestClient, store: Store, path: str) -> None:
    before = store.counts()
    r = client.get(path.format(id="x" * 10_000))
    assert r.status_code == 422
    assert "at most 256 characters" in r.json()["error"]["message"]
    assert store.counts() == before


def _served_rows(client: TestClient) -> int:
    rows = client.get("/feedback/metrics").json()["rows"]
    return sum(int(r["served"]) for r in rows)


def test_log_false_answers_without_a_served_row(client: TestClient) -> None:
    body = recs(client, "u1", k=3, log="false")
    assert body["recommendation_id"] is None and body["items"]
    assert (
        client.get("/items/p4/similar", params={"log": "false"}).json()["recommendation_id"] is None
    )
    search = client.post("/search", json={"query": "phone", "log": False}).json()
    assert search["recommendation_id"] is None
    assert _served_rows(client) == 0
    assert recs(client, "u1", k=3)["recommendation_id"]
    assert _served_rows(client) == 1


def test_docs_work_offline(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert (
        "cdn" not in page.text.lower() and "/static-offline-docs/swagger-ui-bundle.js" in page.text
    )
    asset = client.get("/static-offline-docs/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
    assert client.get("/openapi.json").status_code == 200


@pytest.mark.parametrize("bad", ["5", True, 5.0, None])
def test_k_must_be_a_json_integer(client: TestClient, bad: Any) -> None:
    r = client.post("/search", json={"query": "phone", "k": bad})
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "k"
    s = client.post("/sessions/recommendations", json={"events": [{"item_id": "p4"}], "k": bad})
    assert s.status_code == 422
