"""Pseudonymised shopper ids: the database never holds the shop's ids, whichever way they came
in, while every read by the shop's id still works; the key is guarded (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cartwise.config import Settings
from cartwise.data import tables as t
from cartwise.data.access import export_user
from cartwise.data.dataset import Dataset
from cartwise.data.feedback import FeedbackRecord, ServedLog, log_served, record_feedback
from cartwise.data.history import shopper_events
from cartwise.data.ingest.files import ingest_file
from cartwise.data.privacy import Privacy
from cartwise.data.schema import Event, EventKind, Item, User
from cartwise.data.store import Store
from cartwise.errors import ConfigError, StoreError

KEY = "pseudonym-key-0123456789"
RAW = ("alice@example.com", "bob@example.com", "carol@example.com")
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def pseudonym(user_id: str, key: str = KEY) -> str:
    return hmac.new(key.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def keyed(url: str, key: str | None = KEY) -> Store:
    return Store.open(url, privacy=Privacy(key.encode() if key else None))


def ev(n: int, user: str, item: str, days: float = 0, kind: str = "view") -> Event:
    return Event(event_id=f"e{n}", user_id=user, item_id=item, kind=EventKind(kind),
                 timestamp=T0 + timedelta(days=days))  # fmt: skip


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = keyed(store_url)
    s.upsert_items([Item(id=i, title=i) for i in ("a", "b", "c")])
    yield s
    s.close()


def leaks(store: Store) -> list[tuple[str, str]]:
    """(table, value) of every stored value that contains a raw id."""
    found = []
    with store.engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                found += [(table.name, str(v)) for v in row if any(r in str(v) for r in RAW)]
    return found


def test_no_door_lets_a_raw_id_in(store: Store, tmp_path: Path) -> None:
    alice, bob, carol = RAW
    store.upsert_users([User(id=alice, attributes={"tier": "gold"})])
    store.append_events([ev(1, alice, "a"), ev(2, alice, "b", 1, "purchase")])
    events = tmp_path / "events.csv"
    events.write_text(f"user_id,item_id,kind,timestamp\n{bob},a,view,2024-03-02T00:00:00Z\n"
                      f"{bob},c,view,2024-03-03T00:00:00Z\n")  # fmt: skip
    assert ingest_file(store, "events", events).inserted == 2
    (tmp_path / "users.csv").write_text(f"id,attributes\n{carol},{{}}\n")
    assert ingest_file(store, "users", tmp_path / "users.csv").inserted == 1
    rec = ServedLog(store).log("user", alice, "v1", ["a", "c"])
    log_served(store, "search", bob, "v1", ["b"])
    record_feedback(store, [FeedbackRecord(rec, "c", "click")])
    store.forget_user(carol)
    assert leaks(store) == []
    # reads by the shop's ids find the pseudonymised rows
    assert store.get_user(alice).id == alice
    assert [(e.event_id, e.user_id) for e in store.user_events(alice)] == [
        ("e1", alice), ("e2", alice)
    ]  # fmt: skip
    day1 = (T0 + timedelta(days=1)).timestamp()
    assert shopper_events(store, alice, 10) == (
        [("a", "view", T0.timestamp()), ("b", "purchase", day1)],
        {"b"},
    )
    assert len(store.user_events(bob)) == 2
    assert sorted(u.id for u in store.users()[0]) == sorted(pseudonym(u) for u in (alice, bob))
    exported = export_user(store, alice)
    assert exported["stored_id"] == pseudonym(alice) and exported["pseudonymised"]
    assert [len(exported["tables"][n]) for n in ("users", "events", "served", "feedback")] == [
        1, 2, 1, 2
    ]  # fmt: skip
    assert store.deletion_receipts(user_id=carol)[0].removed == {
        "events": 0, "served": 0, "feedback": 0, "users": 1
    }  # fmt: skip
    assert set(Dataset.from_store(store).users.ids) == {pseudonym(alice), pseudonym(bob)}


def test_derived_event_ids_hash_the_pseudonym(store_url: str, tmp_path: Path) -> None:
    """An event id derived from the shop's id would let a database reader test a guess."""
    path = tmp_path / "events.csv"
    path.write_text(f"user_id,item_id,kind,timestamp\n{RAW[0]},a,view,2024-03-02T00:00:00Z\n")
    raw_store = Store.open(tmp_path / "raw.db", privacy=Privacy())
    raw_store.upsert_items([Item(id="a")])
    ingest_file(raw_store, "events", path)
    plain = raw_store.user_events(RAW[0])[0].event_id
    other = tmp_path / "pseudonyms.csv"  # the same event, written with the pseudonym as its id
    other.write_text(path.read_text().replace(RAW[0], pseudonym(RAW[0])))
    ingest_file(raw_store, "events", other)
    expected = raw_store.user_events(pseudonym(RAW[0]))[0].event_id
    store = keyed(store_url)
    store.upsert_items([Item(id="a")])
    ingest_file(store, "events", path)
    assert store.user_events(RAW[0])[0].event_id == expected != plain
    raw_store.close()
    store.close()


def test_the_store_refuses_a_key_that_would_orphan_its_shoppers(store_url: str) -> None:
    empty = keyed(store_url, None)  # no shopper data yet: any mode may take over
    empty.close()
    store = keyed(store_url)
    store.append_events([ev(1, RAW[0], "a")], unknown_items="placeholder")
    store.close()
    fp_old = Privacy(KEY.encode()).mode().split(":")[1]
    fp_new = Privacy(b"another-key-0123456789").mode().split(":")[1]
    with pytest.raises(StoreError) as caught:
        keyed(store_url, None)
    assert "holds pseudonymised shopper ids (key fingerprint " + fp_old in str(caught.value)
    assert str(caught.value).endswith("set the key the store was written with")
    with pytest.raises(StoreError) as caught:
        keyed(store_url, "another-key-0123456789")
    assert f"(fingerprint {fp_old}; the key set now has {fp_new}): a new key orphans" in str(
        caught.value
    )
    again = keyed(store_url)
    assert again.get_user(RAW[0]).id == RAW[0]
    again.close()


def test_a_store_of_raw_ids_refuses_a_key(store_url: str) -> None:
    store = keyed(store_url, None)
    store.append_events([ev(1, RAW[0], "a")], unknown_items="placeholder")
    store.close()
    with pytest.raises(StoreError) as caught:
        keyed(store_url)
    assert "holds shopper ids as given, but CARTWISE_PSEUDONYMISE_KEY is set" in str(caught.value)


def test_keys_come_from_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CARTWISE_PSEUDONYMISE_KEY", KEY)
    store = Store.open(tmp_path / "shop.db")
    assert store.privacy.pseudonymised
    assert store.privacy.stored(RAW[0]) == pseudonym(RAW[0])
    store.close()
    with pytest.raises(ConfigError) as caught:
        Privacy.from_settings(Settings(pseudonymise_key="short"))  # type: ignore[arg-type]
    assert str(caught.value).startswith(
        "CARTWISE_PSEUDONYMISE_KEY is 5 characters long; use at least 16 random characters"
    )
    assert not Privacy.from_settings(Settings(pseudonymise_key=None)).pseudonymised
