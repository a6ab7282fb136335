"""Deleting a shopper: every table, a receipt without personal data, and the rules that keep a
deleted id from coming back through later requests (on SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cartwise.data import tables as t
from cartwise.data.feedback import FeedbackRecord, ServedLog, log_served, record_feedback
from cartwise.data.ingest.files import ingest_file
from cartwise.data.privacy import Privacy
from cartwise.data.schema import Event, EventKind, Item, User
from cartwise.data.store import Store
from cartwise.errors import NotFoundError

T0 = datetime(2024, 3, 1, tzinfo=UTC)
RECEIPT_KEY = b"receipt-key-0123456789"


def ev(n: int, user: str, item: str, when: datetime = T0, kind: str = "view") -> Event:
    return Event(event_id=f"e{n}", user_id=user, item_id=item, kind=EventKind(kind), timestamp=when)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url, privacy=Privacy(receipt_key=RECEIPT_KEY))
    s.upsert_items([Item(id=i, title=i) for i in ("a", "b", "c")])
    s.upsert_users([User(id="u1", attributes={"tier": "gold"}), User(id="u2")])
    s.append_events([ev(1, "u1", "a"), ev(2, "u1", "b", T0 + timedelta(hours=1)), ev(3, "u2", "a")])
    rec = log_served(s, "user", "u1", "v1", ["a", "b"])
    record_feedback(s, [FeedbackRecord(rec, "b", "click")])
    log_served(s, "user", "u2", "v1", ["c"])
    yield s
    s.close()


def rows_with(store: Store, value: str) -> list[tuple[str, tuple[object, ...]]]:
    """Every row of every table that has a column equal to `value`."""
    found = []
    with store.engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                if value in [str(v) for v in row]:
                    found.append((table.name, tuple(row)))
    return found


def count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return len(conn.execute(select(t.metadata.tables[table])).all())


def test_forget_removes_every_row_and_keeps_a_receipt(store: Store) -> None:
    before = time.time()
    receipt = store.forget_user("u1")
    assert receipt.removed == {"events": 2, "served": 1, "feedback": 2, "users": 1}
    assert rows_with(store, "u1") == []
    assert rows_with(store, "u2") != []  # the other shopper is untouched
    assert receipt.id_hash == hmac.new(RECEIPT_KEY, b"u1", hashlib.sha256).hexdigest()
    assert before - 1 <= receipt.deleted_at.timestamp() <= time.time() + 1
    assert store.deletion_receipts() == [receipt]
    assert store.deletion_receipts(user_id="u1") == [receipt]
    assert store.deletion_receipts(user_id="u2") == []
    with store.engine.connect() as conn:  # a configured key is never written to the store
        assert conn.execute(select(t.privacy_state.c.name)).scalars().all() == ["user_ids"]


def test_a_second_delete_names_the_receipt(store: Store) -> None:
    receipt = store.forget_user("u1")
    with pytest.raises(NotFoundError) as caught:
        store.delete_user("u1")
    assert str(caught.value) == (
        f"user 'u1' is not in the store; nothing was deleted (already deleted at "
        f"{receipt.deleted_at.isoformat()}, receipt {receipt.receipt_id})"
    )
    with pytest.raises(NotFoundError, match="^user 'nobody' is not in the store; nothing was"):
        store.delete_user("nobody")
    assert count(store, "deletion_receipts") == 1


def test_the_store_keeps_its_own_receipt_key_when_none_is_configured(store_url: str) -> None:
    s = Store.open(store_url, privacy=Privacy())
    s.append_events([ev(1, "u1", "a"), ev(2, "u2", "a")], unknown_items="placeholder")
    first = s.forget_user("u1")
    s.close()
    again = Store.open(store_url, privacy=Privacy())  # another process: the key is read back
    second = again.forget_user("u2")
    assert first.key_id == second.key_id
    assert again.deletion_receipts(user_id="u1") == [first]
    with again.engine.connect() as conn:
        key = conn.scalar(
            select(t.privacy_state.c.value).where(t.privacy_state.c.name == "receipt_key")
        )
    assert first.id_hash == hmac.new(bytes.fromhex(key), b"u1", hashlib.sha256).hexdigest()
    again.close()


def test_history_dated_before_the_deletion_stays_out(store: Store) -> None:
    store.forget_user("u1")
    result = store.append_events([ev(1, "u1", "a"), ev(9, "u1", "c", T0 + timedelta(days=9))])
    assert (result.inserted, result.deleted_history) == (0, 2)
    assert store.upsert_users([User(id="u1")]) == 0
    assert rows_with(store, "u1") == []
    assert store.upsert_users([User(id="u2", attributes={"tier": "new"})]) == 1


def test_answers_for_a_deleted_id_are_logged_without_it(store: Store) -> None:
    store.forget_user("u1")
    log = ServedLog(store)
    ids = [log.log("user", "u1", "v1", ["a"]), log_served(store, "user", "u1", "v1", ["b"])]
    ids.append(log_served(store, "user", "never-seen", "v1", ["c"]))
    with store.engine.connect() as conn:
        s = t.served.c
        users = dict(conn.execute(select(s.recommendation_id, s.user_id).where(
            s.recommendation_id.in_(ids))).all())  # fmt: skip
    assert [users[i] for i in ids] == [None, None, "never-seen"]
    record_feedback(store, [FeedbackRecord(ids[0], "a", "click")])
    assert rows_with(store, "u1") == []


def test_new_events_bring_the_shopper_back(store: Store) -> None:
    store.forget_user("u1")
    now = datetime.now(UTC)
    result = store.append_events([ev(10, "u1", "c", now), ev(1, "u1", "a")])
    assert (result.inserted, result.deleted_history) == (1, 1)  # the old one stays out
    assert store.get_user("u1").id == "u1"
    assert [e.event_id for e in store.user_events("u1")] == ["e10"]
    rec = log_served(store, "user", "u1", "v1", ["a"])
    with store.engine.connect() as conn:
        s = t.served.c
        assert conn.scalar(select(s.user_id).where(s.recommendation_id == rec)) == "u1"
    assert store.upsert_users([User(id="u1", attributes={"tier": "new"})]) == 1
    assert store.get_user("u1").attributes == {"tier": "new"}
    assert store.append_events([ev(2, "u1", "b", T0)]).deleted_history == 1


def test_file_imports_leave_out_deleted_history_and_users(store: Store, tmp_path: Path) -> None:
    store.forget_user("u1")
    events = tmp_path / "events.csv"
    events.write_text(
        "user_id,item_id,kind,timestamp\n"
        "u1,a,view,2024-03-01T00:00:00Z\nu1,b,view,2024-03-02T00:00:00Z\n"
        "u2,b,view,2024-03-02T00:00:00Z\n"
    )
    summary = ingest_file(store, "events", events)
    assert (summary.inserted, summary.duplicates) == (1, 0)
    assert summary.skipped == {"events of deleted shoppers, dated before their deletion": 2}
    users = tmp_path / "users.csv"
    users.write_text("id\nu1\nu2\nu3\n")
    summary = ingest_file(store, "users", users)
    assert (summary.inserted, summary.duplicates) == (1, 1)
    assert summary.skipped == {"deleted shoppers (new events bring a shopper back)": 1}
    assert rows_with(store, "u1") == []
