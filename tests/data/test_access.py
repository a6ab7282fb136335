"""Access requests: the export lists every stored row about the shopper, exactly, and only
theirs (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from cartwise.data.access import export_user
from cartwise.data.feedback import FeedbackRecord, log_served, record_feedback
from cartwise.data.schema import Event, EventKind, Item, User
from cartwise.data.store import Store
from cartwise.errors import NotFoundError

T0 = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    s.upsert_items([Item(id="a"), Item(id="b")])
    s.upsert_users([User(id="u1", attributes={"tier": "gold"}, created_at=T0)])
    s.append_events(
        [
            Event(event_id="e1", user_id="u1", item_id="a", kind=EventKind.VIEW, timestamp=T0,
                  session_id="s1", context={"page": "home"}),
            Event(event_id="e2", user_id="u1", item_id="b", kind=EventKind.PURCHASE,
                  timestamp=T0 + timedelta(hours=1), value=2.0),
            Event(event_id="e3", user_id="u2", item_id="a", kind=EventKind.VIEW, timestamp=T0),
        ]
    )  # fmt: skip
    yield s
    s.close()


def test_export_lists_every_row_about_the_shopper(store: Store) -> None:
    rec = log_served(store, "user", "u1", "v1", ["a", "b"])
    record_feedback(store, [FeedbackRecord(rec, "b", "click", T0 + timedelta(days=1))])
    log_served(store, "user", "u2", "v1", ["a"])
    out = export_user(store, "u1")
    assert (out["user_id"], out["stored_id"], out["pseudonymised"]) == ("u1", "u1", False)
    assert datetime.fromisoformat(out["exported_at"]) > T0
    tables = out["tables"]
    assert sorted(tables) == ["events", "feedback", "served", "users"]
    assert tables["users"] == [
        {"id": "u1", "attributes": {"tier": "gold"}, "created_at": T0.isoformat()}
    ]
    events = [{k: v for k, v in e.items() if k != "seq"} for e in tables["events"]]
    assert events == [
        {"event_id": "e1", "user_id": "u1", "session_id": "s1", "item_id": "a", "kind": "view",
         "value": None, "query": None, "ts": T0.isoformat(), "context": {"page": "home"}},
        {"event_id": "e2", "user_id": "u1", "session_id": None, "item_id": "b",
         "kind": "purchase", "value": 2.0, "query": None,
         "ts": (T0 + timedelta(hours=1)).isoformat(), "context": None},
    ]  # fmt: skip
    [served] = tables["served"]
    assert (served["recommendation_id"], served["user_id"], served["items"]) == (
        rec, "u1", ["a", "b"]
    )  # fmt: skip
    assert [(f["kind"], f["item_id"], f["ts"]) for f in tables["feedback"]] == [
        ("impression", "b", (T0 + timedelta(days=1)).isoformat()),
        ("click", "b", (T0 + timedelta(days=1)).isoformat()),
    ]
    assert out["deletions"] == []


def test_export_of_an_unknown_or_deleted_shopper(store: Store) -> None:
    with pytest.raises(NotFoundError, match="^user 'nobody' is not in the store; nothing is"):
        export_user(store, "nobody")
    receipt = store.forget_user("u1")
    with pytest.raises(NotFoundError) as caught:
        export_user(store, "u1")
    assert str(caught.value).endswith(
        f"(deleted at {receipt.deleted_at.isoformat()}, receipt {receipt.receipt_id})"
    )
    store.append_events([Event(event_id="e9", user_id="u1", item_id="a", kind=EventKind.VIEW,
                               timestamp=datetime.now(UTC))])  # fmt: skip
    back = export_user(store, "u1")
    assert [e["event_id"] for e in back["tables"]["events"]] == ["e9"]
    assert back["deletions"] == [receipt.as_dict()]
