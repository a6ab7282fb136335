"""The answer cache behind /users/{id}/recommendations and /items/{id}/similar: repeats are
served from it, and anything in the store that would change an answer invalidates it at once,
whichever process wrote it (expected answers of the tiny store in conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartwise.config import Settings
from cartwise.data.schema import Event, EventKind, Item
from cartwise.data.store import Store
from cartwise.service.schemas import RecommendationsOut
from cartwise.serving.engine import Engine
from conftest import T0, ids, make_client, post_view, recs, tiny_items


def _listed(body: dict[str, Any]) -> list[tuple[str, float, str]]:
    return [(i["item_id"], i["score"], i["reason"]) for i in body["items"]]


@pytest.fixture
def elsewhere(store: Store) -> Iterator[Store]:
    """The same store opened again: writes through it are what another process would do."""
    other = Store.open(store.url)
    yield other
    other.close()


def _item(item_id: str, **change: Any) -> Item:
    original = next(i for i in tiny_items() if i.id == item_id)
    return original.model_copy(update=change)


def test_a_repeat_is_served_from_the_cache_with_its_own_id_and_log_row(
    client: TestClient, engine: Engine
) -> None:
    first = recs(client, "u3", k=3)
    hits = engine.answers.hits
    second = recs(client, "u3", k=3)
    assert engine.answers.hits == hits + 1
    assert _listed(second) == _listed(first) and ids(first) == ["p6", "p1", "p3"]
    assert second["items"] == first["items"] and second["model_version"] == first["model_version"]
    assert second["recommendation_id"] != first["recommendation_id"]
    RecommendationsOut.model_validate(second)  # the documented schema, field for field
    for answer in (first, second):  # each answer has its served row: feedback may name it
        fb = {"recommendation_id": answer["recommendation_id"], "item_id": "p1", "kind": "click"}
        assert client.post("/feedback", json={"events": [fb]}).json()["stored"] == 1
    metrics = client.get("/feedback/metrics").json()["rows"]
    assert [r["served"] for r in metrics if r["scenario"] == "user"] == [2]
    text = client.get("/metrics").text  # the process's cache counters, for operators
    assert f'cartwise_answer_cache_lookups_total{{result="hit"}} {engine.answers.hits}' in text
    assert f"cartwise_answer_cache_entries {len(engine.answers)}" in text
    rows = engine.scorer.states
    assert f'cartwise_score_cache_rows_total{{result="hit"}} {rows.hits}' in text
    assert rows.misses > 0


def test_an_event_posted_here_or_elsewhere_changes_the_next_answer(
    client: TestClient, engine: Engine, elsewhere: Store
) -> None:
    assert ids(recs(client, "newbie", k=2)) == ["p4", "p1"]
    assert ids(recs(client, "newbie", k=2)) == ["p4", "p1"]  # cached
    post_view(client, "rt1", "newbie", "p4")
    assert ids(recs(client, "newbie", k=2)) == ["p5", "p6"]
    # another process records a purchase of p5: excluded from the very next answer
    bought = Event(
        event_id="rt2",
        user_id="newbie",
        item_id="p5",
        kind=EventKind.PURCHASE,
        timestamp=T0.replace(month=3, day=2),
    )
    elsewhere.append_events([bought])
    assert "p5" not in ids(recs(client, "newbie", k=2))


def test_a_shopper_deleted_and_back_with_other_events_gets_a_fresh_answer(
    client: TestClient, elsewhere: Store
) -> None:
    before = ids(recs(client, "u6", k=2))
    elsewhere.delete_user("u6")
    # back as a new shopper: an event dated after the deletion (older ones stay forgotten)
    now = datetime.now(UTC)
    again = Event(event_id="back", user_id="u6", item_id="p1", kind=EventKind.VIEW, timestamp=now)
    elsewhere.append_events([again])
    after = recs(client, "u6", k=2)
    assert ids(after) != before
    assert {i["reason"] for i in after["items"]} <= {
        "because you viewed 'Trail Running Shoe'",
        "popular with shoppers right now",
    }


def test_an_item_changed_elsewhere_is_never_served_stale_from_the_cache(
    client: TestClient, engine: Engine, elsewhere: Store
) -> None:
    assert ids(recs(client, "u3", k=3)) == ["p6", "p1", "p3"]
    elsewhere.upsert_items([_item("p6", available=False)])  # the snapshot here still has it
    stale = engine.answers.stale
    body = recs(client, "u3", k=3)
    assert engine.answers.stale == stale + 1
    assert "p6" not in ids(body) and len(body["items"]) == 3
    elsewhere.upsert_items([_item("p1", price=55.0)])
    body = recs(client, "u3", k=3)
    assert {i["item_id"]: i["item"]["price"] for i in body["items"]}["p1"] == 55.0
    elsewhere.upsert_items([_item("p6")])  # available again: shown again
    assert ids(recs(client, "u3", k=3)) == ["p6", "p1", "p3"]


def test_a_catalog_change_through_the_api_invalidates(client: TestClient) -> None:
    assert ids(recs(client, "nobody", k=3)) == ["p4", "p1", "p3"]
    gone = _item("p4", available=False).model_dump(mode="json")
    assert client.put("/items", json={"items": [gone]}).status_code == 200
    assert ids(recs(client, "nobody", k=3)) == ["p1", "p3", "p2"]


def test_a_model_swap_invalidates(client: TestClient, engine: Engine) -> None:
    first = recs(client, "u3", k=3)
    version = engine.train("popularity", rng=0)
    body = recs(client, "u3", k=3)
    assert body["model_version"] == version != first["model_version"]
    assert {i["reason"] for i in body["items"]} != {i["reason"] for i in first["items"]}


@pytest.mark.parametrize(
    "params",
    [
        {"k": 2},
        {"k": 3, "exclude_purchased": False},
        {"k": 10, "category": "sports"},
        {"k": 10, "max_price": 25},
        {"k": 4, "diversity": "category_cap", "max_per_category": 1},
        {"k": 4, "diversity": "mmr", "mmr_lambda": 0.3},
    ],
)
def test_parameters_are_part_of_the_key(
    client: TestClient, store: Store, tmp_path: Path, params: dict[str, Any]
) -> None:
    plain = Engine(store, tmp_path / "models", answer_cache=0)  # same model folder, no cache
    with make_client(plain) as uncached:
        expected = _listed(recs(uncached, "u3", **params))
    recs(client, "u3", k=3)  # another answer for the same shopper is kept first
    assert _listed(recs(client, "u3", **params)) == expected
    assert _listed(recs(client, "u3", **params)) == expected  # and from the cache
    assert plain.answers.hits == 0 and len(plain.answers) == 0


def test_similar_items_are_cached_and_checked_on_fresh_rows(
    client: TestClient, engine: Engine, elsewhere: Store
) -> None:
    def similar() -> list[str]:
        r = client.get("/items/p4/similar", params={"k": 2})
        assert r.status_code == 200, r.text
        return ids(r.json())

    assert similar() == ["p5", "p6"]
    hits = engine.answers.hits
    assert similar() == ["p5", "p6"]
    assert engine.answers.hits == hits + 1
    elsewhere.upsert_items([_item("p5", available=False)])
    assert similar()[0] == "p6"


def test_the_cache_keeps_at_most_its_size(store: Store, tmp_path: Path) -> None:
    engine = Engine(store, tmp_path / "models", answer_cache=2)
    engine.train("itemknn", {"k": 100, "shrink": 0.0}, rng=0)
    with make_client(engine) as client:
        for user in ("u1", "u2", "u3", "u4", "u5"):
            recs(client, user, k=3)
        assert len(engine.answers) == 2
        hits = engine.answers.hits
        recs(client, "u5", k=3)  # the latest are kept
        recs(client, "u1", k=3)  # the oldest was dropped
        assert engine.answers.hits == hits + 1


def test_the_size_comes_from_the_settings(store: Store, tmp_path: Path) -> None:
    settings = Settings(model_dir=tmp_path / "m", search_mode="keyword", answer_cache_size=0)
    assert Engine.from_settings(settings, store=store).answers.capacity == 0
    assert Settings().answer_cache_size > 0  # on by default
    default = Engine.from_settings(
        Settings(model_dir=tmp_path / "m", search_mode="keyword"), store=store
    )
    assert default.answers.enabled
