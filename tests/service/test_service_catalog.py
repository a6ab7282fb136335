"""Catalog, shoppers and events over HTTP: upserts, reads, deletes, batch validation."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from cartwise.data.store import Store


def _event(eid: str, **over: Any) -> dict[str, Any]:
    ev = {
        "event_id": eid,
        "user_id": "z1",
        "item_id": "p1",
        "kind": "view",
        "timestamp": "2024-02-01T10:00:00Z",
    }
    ev.update(over)
    return {k: v for k, v in ev.items() if v is not None}


def test_items_upsert_read_list_delete(client: TestClient) -> None:
    body = {"items": [{"id": "n1", "title": "Neon Hat", "category": ["Hats"], "price": 15}]}
    assert client.put("/items", json=body).json() == {"upserted": 1}
    got = client.get("/items/n1").json()
    assert (got["title"], got["category"], got["price"]) == ("Neon Hat", ["Hats"], 15.0)
    page = client.get("/items", params={"limit": 3, "offset": 1}).json()
    assert [i["id"] for i in page["items"]] == ["n1", "p1", "p2"]
    assert page["total"] == 10
    shoes = client.get("/items", params={"category": "running shoes"}).json()
    assert [i["id"] for i in shoes["items"]] == ["p1", "p2"]
    assert [i["id"] for i in client.get("/items?type=article").json()["items"]] == ["a1"]
    assert client.delete("/items/n1").json() == {"item_id": "n1"}
    missing = client.get("/items/n1")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {
            "type": "NotFoundError",
            "message": "item 'n1' is not in the catalog",
            "fields": [],
        }
    }


def test_users_upsert_read_list(client: TestClient) -> None:
    assert client.put(
        "/users", json={"users": [{"id": "z9", "attributes": {"tier": "gold"}}]}
    ).json() == {"upserted": 1}
    assert client.get("/users/z9").json()["attributes"] == {"tier": "gold"}
    page = client.get("/users", params={"limit": 2}).json()
    assert [u["id"] for u in page["users"]] == ["u1", "u2"]
    assert page["total"] == 7
    assert client.get("/users/nobody").status_code == 404


def test_events_are_idempotent_on_event_id(client: TestClient, store: Store) -> None:
    batch = {"events": [_event("n1"), _event("n2", kind="purchase")]}
    assert client.post("/events", json=batch).json() == {"inserted": 2, "duplicates": 0}
    assert client.post("/events", json=batch).json() == {"inserted": 0, "duplicates": 2}
    assert store.counts()["events"] == 17 + 2
    recent = client.get("/users/z1/events").json()["events"]
    assert [e["event_id"] for e in recent] == ["n1", "n2"]


def test_a_bad_row_rejects_the_batch_and_names_every_bad_row(
    client: TestClient, store: Store
) -> None:
    batch = {
        "events": [
            _event("b0", kind="Wave!"),  # not spelt as a kind: the schema rejects it
            _event("b1"),
            _event("b2", user_id=None),
            _event("b3", timestamp="yesterday"),
        ]
    }
    r = client.post("/events", json=batch)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["type"] == "ValidationError"
    assert [(f["index"], f["field"]) for f in err["fields"]] == [
        (0, "kind"),
        (2, "user_id"),
        (3, "timestamp"),
    ]
    assert store.counts()["events"] == 17


def test_unknown_kinds_reject_the_batch_until_declared(client: TestClient, store: Store) -> None:
    batch = {"events": [_event("k0"), _event("k1", kind="favourite"), _event("k2", kind="wave")]}
    r = client.post("/events", json=batch)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["type"] == "BatchError"
    assert err["fields"] == [
        {"index": 1, "field": "kind", "message": "unknown event kind 'favourite'"},
        {"index": 2, "field": "kind", "message": "unknown event kind 'wave'"},
    ]
    assert "allowed kinds: view, click, add_to_cart" in err["message"]
    assert "cartwise kinds add NAME" in err["message"]
    assert store.counts()["events"] == 17
    store.declare_kind("favourite")
    batch = {"events": [_event("k0"), _event("k1", kind="favourite")]}
    assert client.post("/events", json=batch).json() == {"inserted": 2, "duplicates": 0}
    kinds = [e["kind"] for e in client.get("/users/z1/events").json()["events"]]
    assert kinds == ["view", "favourite"]


def test_unknown_items_reject_the_batch(client: TestClient, store: Store) -> None:
    batch = {"events": [_event("c0"), _event("c1", item_id="zz"), _event("c2", item_id="yy")]}
    r = client.post("/events", json=batch)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["type"] == "BatchError"
    assert err["fields"] == [
        {"index": 1, "field": "item_id", "message": "unknown item 'zz'"},
        {"index": 2, "field": "item_id", "message": "unknown item 'yy'"},
    ]
    assert "PUT /items" in err["message"]
    assert store.counts()["events"] == 17


def test_delete_user_removes_events_served_lists_and_feedback(client: TestClient) -> None:
    rec = client.get("/users/u3/recommendations", params={"k": 2}).json()
    fb = {"recommendation_id": rec["recommendation_id"], "item_id": rec["items"][0]["item_id"]}
    assert client.post("/feedback", json={"events": [{**fb, "kind": "click"}]}).status_code == 200
    removed = client.delete("/users/u3").json()
    assert removed["user_id"] == "u3"
    assert removed["removed"]["events"] == 3
    assert removed["removed"]["served"] == 1
    assert removed["removed"]["feedback"] == 2  # the click and the impression it implied
    assert removed["removed"]["users"] == 1
    assert client.get("/users/u3").status_code == 404
    assert client.get("/users/u3/events").json() == {"events": []}
    again = client.delete("/users/u3")
    assert again.status_code == 404
    assert "nothing was deleted" in again.json()["error"]["message"]
