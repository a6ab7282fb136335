"""Privacy over HTTP: DELETE /users/{id} with its receipt and the model-version hook, receipts,
access export (admin only), what later requests for a deleted id do, and a pseudonymised
service whose database never holds the shop's ids (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cartwise.data import tables as t
from cartwise.data.privacy import Privacy
from cartwise.data.store import Store
from cartwise.lifecycle import Versions
from cartwise.serving import privacy
from cartwise.serving.engine import Engine
from conftest import T0, build_tiny, make_client

RAW_IDS = [f"u{n}" for n in range(1, 7)]
KEY = b"service-pseudonym-key-0123"


def served_user(store: Store, recommendation_id: str) -> str | None:
    with store.engine.connect() as conn:
        s = t.served.c
        return conn.scalar(select(s.user_id).where(s.recommendation_id == recommendation_id))


def now_event(n: int, user: str, item: str, when: datetime | None = None) -> dict[str, Any]:
    stamp = (when or datetime.now(UTC)).isoformat()
    return {"event_id": f"n{n}", "user_id": user, "item_id": item, "kind": "view",
            "timestamp": stamp}  # fmt: skip


def test_delete_answers_with_its_receipt_and_marks_versions(
    client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Versions, int, int]] = []

    def mark(versions: Versions, events_removed: int) -> list[str]:
        calls.append((versions, events_removed, len(engine.store.user_events("u3"))))
        return ["itemknn-marked"]

    monkeypatch.setattr(privacy, "mark_versions_after_deletion", mark)
    body = client.delete("/users/u3").json()
    receipt = body["receipt"]
    assert body["user_id"] == "u3"
    assert body["removed"] == receipt["removed"] == {
        "events": 3, "served": 0, "feedback": 0, "users": 1
    }  # fmt: skip
    assert len(receipt["id_hash"]) == 64 and receipt["id_hash"] != "u3"
    assert body["marked_versions"] == ["itemknn-marked"]
    assert calls == [(engine.versions, 3, 0)]  # after the store forgot them
    assert client.get("/deletions").json() == {"receipts": [receipt]}
    assert client.get("/deletions", params={"user_id": "u3"}).json() == {"receipts": [receipt]}
    assert client.get("/deletions", params={"user_id": "u1"}).json() == {"receipts": []}


def test_delete_marks_the_versions_that_learnt_from_the_shopper(
    client: TestClient, engine: Engine
) -> None:
    version = engine.active_version()
    assert version is not None and engine.versions.deletion_mark(version) is None
    assert client.delete("/users/u3").json()["marked_versions"] == [version]
    mark = engine.versions.deletion_mark(version)
    assert mark is not None and mark["shoppers"] == 1
    client.put("/users", json={"users": [{"id": "quiet"}]})  # no events: no model learnt them
    assert client.delete("/users/quiet").json()["marked_versions"] == []


def test_later_requests_do_not_recreate_a_deleted_shopper(
    client: TestClient, engine: Engine
) -> None:
    store = engine.store
    assert client.delete("/users/u3").status_code == 200
    cold = client.get("/users/nobody/recommendations", params={"k": 3}).json()
    answer = client.get("/users/u3/recommendations", params={"k": 3}).json()
    assert answer["user_id"] == "u3"
    assert [i["item_id"] for i in answer["items"]] == [i["item_id"] for i in cold["items"]]
    assert served_user(store, answer["recommendation_id"]) is None
    assert served_user(store, cold["recommendation_id"]) == "nobody"
    found = client.post("/search", json={"query": "phone", "user_id": "u3", "k": 2}).json()
    assert served_user(store, found["recommendation_id"]) is None
    old = client.post("/events", json={"events": [now_event(1, "u3", "p1", T0)]})
    assert old.json() == {"inserted": 0, "duplicates": 0, "deleted_history": 1}
    put = client.put("/users", json={"users": [{"id": "u3"}, {"id": "u9"}]})
    assert put.json() == {"upserted": 1, "skipped_deleted": 1}
    assert client.get("/users/u3").status_code == 404
    # a new event brings them back as a new shopper
    assert client.post("/events", json={"events": [now_event(2, "u3", "p4")]}).json() == {
        "inserted": 1, "duplicates": 0
    }  # fmt: skip
    assert client.get("/users/u3").status_code == 200
    again = client.get("/users/u3/recommendations", params={"k": 3}).json()
    assert served_user(store, again["recommendation_id"]) == "u3"


def test_export_is_for_admin_keys_only(client_with: Any) -> None:
    keys = {"reader": ["read"], "boss": ["admin"]}
    with client_with(api_keys=keys) as c:
        denied = c.get("/users/u1/export", headers={"X-API-Key": "reader"})
        assert denied.status_code == 403
        assert c.get("/deletions", headers={"X-API-Key": "reader"}).status_code == 403
        body = c.get("/users/u1/export", headers={"X-API-Key": "boss"}).json()
        assert (body["user_id"], body["stored_id"], body["pseudonymised"]) == ("u1", "u1", False)
        assert [e["item_id"] for e in body["tables"]["events"]] == ["p1", "p2", "p1"]
        assert body["tables"]["users"][0]["id"] == "u1"
        missing = c.get("/users/zz/export", headers={"X-API-Key": "boss"})
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == (
            "user 'zz' is not in the store; nothing is stored about them"
        )


def leaks(store: Store) -> list[tuple[str, str]]:
    found = []
    with store.engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                found += [(table.name, str(v)) for v in row if any(u in str(v) for u in RAW_IDS)]
    return found


def tiny_engine(store: Store, folder: Path) -> Engine:
    build_tiny(store)
    engine = Engine(store, folder)
    engine.train("itemknn", {"k": 100, "shrink": 0.0}, rng=0)
    return engine


def test_a_pseudonymised_service_answers_as_the_plain_one(
    new_store_url: Any, tmp_path: Path
) -> None:
    hidden = Store.open(new_store_url(), privacy=Privacy(KEY))
    plain = Store.open(new_store_url(), privacy=Privacy())
    engine = tiny_engine(hidden, tmp_path / "hidden")
    with make_client(engine) as c, make_client(tiny_engine(plain, tmp_path / "plain")) as client:
        for user in ("u3", "u5", "nobody"):
            got = c.get(f"/users/{user}/recommendations", params={"k": 4}).json()
            want = client.get(f"/users/{user}/recommendations", params={"k": 4}).json()
            assert [(i["item_id"], i["score"]) for i in got["items"]] == [
                (i["item_id"], i["score"]) for i in want["items"]
            ]
            assert got["user_id"] == user
        rec = c.get("/users/u1/recommendations", params={"k": 2}).json()
        fb = {"recommendation_id": rec["recommendation_id"], "item_id": rec["items"][0]["item_id"]}
        assert c.post("/feedback", json={"events": [{**fb, "kind": "click"}]}).status_code == 200
        assert c.put("/users", json={"users": [{"id": "u2", "attributes": {"tier": "x"}}]}).json()
        assert c.get("/users/u2").json()["attributes"] == {"tier": "x"}
        later = datetime.now(UTC) - timedelta(minutes=1)
        assert (
            c.post("/events", json={"events": [now_event(1, "u5", "p7", later)]}).json()["inserted"]
            == 1
        )
        assert {e["user_id"] for e in c.get("/users/u5/events").json()["events"]} == {"u5"}
        c.post("/search", json={"query": "phone", "user_id": "u6", "k": 2})
        exported = c.get("/users/u1/export").json()
        assert exported["pseudonymised"] and exported["stored_id"] != "u1"
        assert len(exported["tables"]["feedback"]) == 2
        assert c.delete("/users/u4").json()["removed"]["events"] == 4
    assert leaks(hidden) == []
    hidden.close()
    plain.close()
