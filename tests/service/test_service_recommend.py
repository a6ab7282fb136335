"""Recommendation scenarios over HTTP on the tiny store (expected answers in conftest.py)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartwise.data.schema import Item
from cartwise.data.store import Store
from conftest import ids, post_view, recs

SIM_P4_P5 = 2 / math.sqrt(6)
SIM_P4_P6 = 1 / math.sqrt(3)


def test_unknown_shopper_gets_the_cold_start_ranking(client: TestClient) -> None:
    body = recs(client, "never-seen", k=3)
    # popularity prior: p4 (5 events), then p1 and p3 (3 each, p1 first by index)
    assert ids(body) == ["p4", "p1", "p3"]
    assert body["items"][0]["score"] == pytest.approx(1.0)
    assert body["items"][1]["score"] == pytest.approx(0.6)
    assert {i["reason"] for i in body["items"]} == {"popular in the store (no history yet)"}
    assert body["model_version"].startswith("itemknn-")
    assert body["scenario"] == "user" and body["user_id"] == "never-seen"
    assert len(body["recommendation_id"]) == 32
    assert body["items"][0]["item"]["title"] == "Phone X"


def test_a_new_event_changes_the_next_recommendation(client: TestClient) -> None:
    assert ids(recs(client, "newbie", k=2)) == ["p4", "p1"]
    post_view(client, "rt1", "newbie", "p4")
    body = recs(client, "newbie", k=2)
    # ItemKNN neighbours of p4 (p8 is also one, but unavailable); no retraining happened
    assert ids(body) == ["p5", "p6"]
    assert [i["score"] for i in body["items"]] == pytest.approx([SIM_P4_P5, SIM_P4_P6], rel=1e-5)
    assert {i["reason"] for i in body["items"]} == {"because you viewed 'Phone X'"}


def test_purchased_items_are_excluded_by_default(client: TestClient) -> None:
    # u3 bought p4 and p5. p6 = sim(p4,p6) + sim(p5,p6) = 1/√3 + 1/√2; p8 is unavailable;
    # the rest score 0 and follow popularity (p1, p3).
    body = recs(client, "u3", k=3)
    assert ids(body) == ["p6", "p1", "p3"]
    assert body["items"][0]["score"] == pytest.approx(1 / math.sqrt(3) + 1 / math.sqrt(2), rel=1e-5)
    # kept when asked: p4 and p5 both score 2/√6; p4 first (more popular)
    assert ids(recs(client, "u3", k=3, exclude_purchased=False)) == ["p6", "p4", "p5"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"category": "Running Shoes"}, ["p1", "p2"]),
        ({"category": "sports", "min_price": 30}, ["p1", "p2", "p7"]),
        ({"max_price": 25}, ["p3", "p5"]),
        ({"type": "article"}, ["a1"]),
        ({"category": "Yoga", "min_price": 50}, []),
    ],
)
def test_filters(client: TestClient, params: dict[str, Any], expected: list[str]) -> None:
    assert ids(recs(client, "nobody", k=10, **params)) == expected


@pytest.mark.parametrize("path", ["/users/nobody/recommendations", "/items/p4/similar",
                                  "/items/p4/complements"])  # fmt: skip
def test_a_misspelt_category_is_a_422_naming_the_categories(client: TestClient, path: str) -> None:
    r = client.get(path, params={"category": "Runing Shoes"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["fields"][0]["field"] == "category"
    assert "did you mean 'Running Shoes'" in error["message"]
    assert "Phones" in error["message"] and "Sports" in error["message"]


def test_inverted_price_range_is_a_422(client: TestClient) -> None:
    r = client.get("/users/u1/recommendations", params={"min_price": 50, "max_price": 10})
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "min_price"


def test_unavailable_items_are_never_returned(client: TestClient, store: Store) -> None:
    client.put("/items", json={"items": [{"id": "p4", "title": "Phone X", "available": False}]})
    assert "p4" not in ids(recs(client, "nobody", k=10))
    # written behind the service's back (its catalog snapshot is stale): still filtered,
    # because the final items are checked against fresh rows
    store.upsert_items([Item(id="p1", title="Trail Running Shoe", available=False)])
    got = ids(recs(client, "nobody", k=10))
    assert "p1" not in got and "p8" not in got
    assert got == ["p3", "p2", "p5", "p6", "a1", "p7"]


def test_category_cap_diversity(client: TestClient) -> None:
    body = recs(client, "nobody", k=4, diversity="category_cap", max_per_category=1)
    # popularity order p4, p1, p3, p2, p5: p2 is a second "Running Shoes" and is skipped
    assert ids(body) == ["p4", "p1", "p3", "p5"]


def test_mmr_diversity_without_vectors_uses_categories(client: TestClient) -> None:
    body = recs(client, "nobody", k=3, diversity="mmr", mmr_lambda=0.5)
    assert ids(body)[:2] == ["p4", "p1"]
    leaves = [i["item"]["category"][-1] for i in body["items"]]
    assert len(set(leaves)) == 3


def test_session_recommendations(client: TestClient) -> None:
    body = {"events": [{"item_id": "p4"}], "k": 2}
    r = client.post("/sessions/recommendations", json=body).json()
    assert ids(r) == ["p5", "p6"]
    assert r["user_id"] is None and r["scenario"] == "session"
    bought = {"events": [{"item_id": "p4"}, {"item_id": "p5", "kind": "purchase"}], "k": 2}
    # p5 bought in the session: excluded; p6 = 1/√3 + 1/√2 now leads
    assert ids(client.post("/sessions/recommendations", json=bought).json())[0] == "p6"
    missing = client.post("/sessions/recommendations", json={"events": [{"item_id": "zz"}]})
    assert missing.status_code == 404
    assert "unknown item 'zz'" in missing.json()["error"]["message"]


def test_similar_items(client: TestClient) -> None:
    body = client.get("/items/p4/similar", params={"k": 5}).json()
    assert ids(body) == ["p5", "p6"]  # p8 is a neighbour too, but unavailable
    assert body["items"][0]["reason"] == "similar to 'Phone X'"
    assert client.get("/items/nope/similar").status_code == 404


def test_similar_falls_back_for_models_without_item_similarity(
    client: TestClient, engine: Any
) -> None:
    engine.train("popularity", rng=0)
    body = client.get("/items/p4/similar", params={"k": 2}).json()
    assert ids(body) == ["p1", "p3"]
    assert body["model_version"].startswith("popularity-")
    assert {i["reason"] for i in body["items"]} == {"popular with shoppers right now"}


def test_complements_by_lift(client: TestClient) -> None:
    body = client.get("/items/p4/complements").json()
    # p4 buyers u3, u4; both bought p5 within 30 days; 4 buyers overall, 2 of them bought p5:
    # lift = (2/2) / (2/4) = 2. p6 (u4, 40 days later) is outside the window.
    assert ids(body) == ["p5"]
    assert body["items"][0]["score"] == pytest.approx(2.0)
    assert body["items"][0]["details"] == {"together": 2.0, "lift": 2.0, "item_buyers": 2.0}
    assert body["items"][0]["reason"] == (
        "2 of 2 shoppers who bought 'Phone X' bought this within 30 days (lift 2.0)"
    )
    wide = client.get("/items/p4/complements", params={"window_days": 60, "min_support": 1})
    # p6: (1/2) / (1/4) = 2 as well; ties go to more shoppers together
    assert ids(wide.json()) == ["p5", "p6"]
    assert client.get("/items/nope/complements").status_code == 404


def test_search(client: TestClient) -> None:
    plain = client.post("/search", json={"query": "running shoes"}).json()
    assert set(ids(plain)) == {"p1", "p2", "p3", "a1"}
    rel = [i["details"]["relevance"] for i in plain["items"]]
    assert rel == sorted(rel, reverse=True)
    assert plain["model_version"] is None
    articles = client.post("/search", json={"query": "running shoes", "type": "article"}).json()
    assert ids(articles) == ["a1"]
    cheap = client.post("/search", json={"query": "running", "max_price": 50}).json()
    assert ids(cheap) == ["p3"]
    assert cheap["items"][0]["reason"] == "matches 'running' in title"
    # u1 viewed p1 and p2: ItemKNN scores p3 = 1.0, p1 = p2 = 0.5, a1 = 0; with weight 1 the
    # model alone orders the matching items (ties by catalog order)
    mine = client.post(
        "/search", json={"query": "running shoes", "user_id": "u1", "personalization": 1.0}
    ).json()
    assert ids(mine) == ["p3", "p1", "p2", "a1"]
    assert mine["items"][0]["reason"].endswith("ranked for you from your history")
    empty = client.post("/search", json={"query": "!!!"})
    assert empty.status_code == 422


def test_ads_rank_by_expected_value(client: TestClient) -> None:
    cands = [
        {"item_id": "p3", "bid": 1.0},
        {"item_id": "p7", "bid": 100.0},
        {"item_id": "p8", "bid": 5.0},
        {"item_id": "p4", "bid": 2.0},
    ]
    floor0 = client.post(
        "/ads/rank", json={"user_id": "u1", "candidates": cands, "relevance_floor": 0}
    )
    body = floor0.json()
    # u1's scores over the 8 available items: p3 1.0, p1 0.5, p2 0.5, five items 0.
    # mean 0.25, std √0.125: z(0) = −1/√2, z(1) = 3/√2; p(x) = exp(z(x)) / Z
    z0, zh, z1 = -1 / math.sqrt(2), 1 / math.sqrt(2), 3 / math.sqrt(2)
    total = 5 * math.exp(z0) + 2 * math.exp(zh) + math.exp(z1)
    p0, p1 = math.exp(z0) / total, math.exp(z1) / total
    # expected values: p7 100·p0; p3 1·p1 = e^(4/√2)·p0 ≈ 16.9·p0; p4 2·p0
    assert [a["item_id"] for a in body["ranked"]] == ["p7", "p3", "p4"]
    by_id = {a["item_id"]: a for a in body["ranked"]}
    assert by_id["p7"]["probability"] == pytest.approx(p0, rel=1e-4)
    assert by_id["p3"]["expected_value"] == pytest.approx(p1 * 1.0, rel=1e-4)
    assert body["rejected"] == [{"item_id": "p8", "reason": "unavailable"}]
    floored = client.post("/ads/rank", json={"user_id": "u1", "candidates": cands}).json()
    # relevance = share of the 8 scored items strictly below: p3 7/8; p7 and p4 0
    assert [a["item_id"] for a in floored["ranked"]] == ["p3"]
    assert floored["ranked"][0]["relevance"] == pytest.approx(7 / 8)
    assert {r["item_id"] for r in floored["rejected"]} == {"p8", "p7", "p4"}
    unknown = client.post(
        "/ads/rank", json={"user_id": "u1", "candidates": [{"item_id": "zz", "bid": 1}]}
    )
    assert unknown.status_code == 404
