"""Feedback tied to served recommendations, and online metrics per model version."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


def _fb(rec: dict[str, Any], item: str, kind: str) -> dict[str, str]:
    return {"recommendation_id": rec["recommendation_id"], "item_id": item, "kind": kind}


def test_feedback_gives_ctr_per_model_version(client: TestClient) -> None:
    rec = client.get("/users/u1/recommendations", params={"k": 3}).json()
    shown = [i["item_id"] for i in rec["items"]]
    events = [_fb(rec, i, "impression") for i in shown] + [_fb(rec, shown[1], "click")]
    assert client.post("/feedback", json={"events": events}).json() == {
        "stored": 4, "duplicates": 0, "implied_impressions": 0,
    }  # fmt: skip
    client.get("/users/u2/recommendations")  # served, no feedback
    rows = client.get("/feedback/metrics").json()["rows"]
    user_rows = [r for r in rows if r["scenario"] == "user"]
    assert user_rows == [
        {
            "model_version": rec["model_version"],
            "scenario": "user",
            "served": 2,
            "impressions": 3,
            "clicks": 1,
            "purchases": 0,
            "ctr": pytest.approx(1 / 3),
        }
    ]


def test_feedback_must_match_a_served_list(client: TestClient) -> None:
    rec = client.get("/users/u1/recommendations", params={"k": 2}).json()
    bad = {
        "events": [
            _fb(rec, rec["items"][0]["item_id"], "click"),
            {"recommendation_id": "0" * 32, "item_id": "p1", "kind": "click"},
            _fb(rec, "p7", "click"),
        ]
    }
    r = client.post("/feedback", json=bad)
    assert r.status_code == 422
    fields = r.json()["error"]["fields"]
    assert [(f["index"], f["field"]) for f in fields] == [(1, "recommendation_id"), (2, "item_id")]
    rows = client.get("/feedback/metrics").json()["rows"]
    assert rows[0]["clicks"] == 0  # the good row was not stored either


def test_session_and_search_answers_are_logged_too(client: TestClient) -> None:
    s = client.post("/sessions/recommendations", json={"events": [{"item_id": "p4"}]}).json()
    q = client.post("/search", json={"query": "phone"}).json()
    assert client.post("/feedback", json={"events": [_fb(s, s["items"][0]["item_id"], "click")]})
    assert client.post(
        "/feedback", json={"events": [_fb(q, q["items"][0]["item_id"], "purchase")]}
    ).json() == {"stored": 1, "duplicates": 0, "implied_impressions": 1}
    rows = {r["scenario"]: r for r in client.get("/feedback/metrics").json()["rows"]}
    # the click implied its impression
    assert rows["session"]["clicks"] == 1 and rows["session"]["ctr"] == 1.0
    assert rows["search"]["purchases"] == 1 and rows["search"]["model_version"] is None


def test_a_retried_post_counts_once(client: TestClient) -> None:
    rec = client.get("/users/u1/recommendations", params={"k": 2}).json()
    item = rec["items"][0]["item_id"]
    events = [_fb(rec, item, "impression"), _fb(rec, item, "click")]
    first = client.post("/feedback", json={"events": events}).json()
    again = client.post("/feedback", json={"events": events + events}).json()
    assert first == {"stored": 2, "duplicates": 0, "implied_impressions": 0}
    assert again == {"stored": 0, "duplicates": 2, "implied_impressions": 0}
    row = next(r for r in client.get("/feedback/metrics").json()["rows"] if r["scenario"] == "user")
    assert (row["impressions"], row["clicks"], row["ctr"]) == (1, 1, 1.0)


def test_a_click_without_an_impression_implies_it(client: TestClient) -> None:
    rec = client.get("/users/u1/recommendations", params={"k": 3}).json()
    shown = [i["item_id"] for i in rec["items"]]
    clicks = [_fb(rec, i, "click") for i in shown]
    assert client.post("/feedback", json={"events": clicks}).json() == {
        "stored": 3, "duplicates": 0, "implied_impressions": 3,
    }  # fmt: skip
    # the real impressions arriving later change nothing
    late = [_fb(rec, i, "impression") for i in shown]
    assert client.post("/feedback", json={"events": late}).json()["stored"] == 0
    row = next(r for r in client.get("/feedback/metrics").json()["rows"] if r["scenario"] == "user")
    assert (row["impressions"], row["clicks"], row["ctr"]) == (3, 3, 1.0)
