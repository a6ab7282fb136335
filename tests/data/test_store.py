"""Store: upserts, idempotent appends, atomic batches, sequences, delete_user, export."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select, text

from cartwise.data import bulk, connect
from cartwise.data import tables as t
from cartwise.data.schema import Event, EventKind, Item, User
from cartwise.data.store import Store
from cartwise.errors import InputError, NotFoundError, StoreError

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def ev(i: int, user: str, item: str | None, kind: str = "view", minutes: int = 0) -> Event:
    return Event(
        event_id=f"e{i}",
        user_id=user,
        item_id=item,
        kind=EventKind(kind),
        query="red shoes" if kind == "search" else None,
        timestamp=T0 + timedelta(minutes=minutes),
    )


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    s.upsert_items(
        [
            Item(id="phone", title="Galaxy S23", category=["Electronics", "Phones"], price=799),
            Item(id="case", title="Case for Galaxy S23", category=["Electronics", "Cases"]),
            Item(id="shoe", title="Trail runner", available=False),
        ]
    )
    yield s
    s.close()


def test_sqlite_runs_in_wal_mode(store: Store) -> None:
    if store.dialect != "sqlite":
        pytest.skip("SQLite only")
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_upsert_replaces_by_id(store: Store) -> None:
    store.upsert_items([Item(id="phone", title="Galaxy S24", price=899)])
    assert store.get_item("phone").title == "Galaxy S24"
    assert store.get_item("phone").price == 899
    assert store.counts()["items"] == 3


def test_append_is_idempotent_on_event_id(store: Store) -> None:
    batch = [ev(1, "u1", "phone"), ev(2, "u1", "case", minutes=5)]
    first = store.append_events(batch)
    again = store.append_events(batch + [ev(3, "u2", "phone")])
    assert (first.inserted, first.duplicates) == (2, 0)
    assert (again.inserted, again.duplicates) == (1, 2)
    assert store.counts() == {"items": 3, "users": 2, "events": 3}


def test_unknown_item_rejected_and_store_unchanged(store: Store) -> None:
    before = store.counts()
    with pytest.raises(InputError, match=r"line 2, field 'item_id': unknown item 'nope'"):
        store.append_events([ev(1, "u1", "phone"), ev(2, "u1", "nope")])
    assert store.counts() == before


def test_unknown_item_placeholder_creates_unavailable_item(store: Store) -> None:
    result = store.append_events([ev(1, "u1", "new")], unknown_items="placeholder")
    assert result.placeholders == 1
    assert store.get_item("new").available is False


def test_failed_batch_rolls_back_everything(store: Store) -> None:
    before = store.counts()
    with pytest.raises(RuntimeError), store.batch() as batch:
        batch.upsert_items([Item(id="tv", title="TV")])
        batch.append_events([ev(1, "u1", "tv")])
        raise RuntimeError("crash mid-import")
    assert store.counts() == before
    with pytest.raises(NotFoundError):
        store.get_item("tv")


def test_user_events_chronological_ties_in_insertion_order(store: Store) -> None:
    store.append_events(
        [
            ev(1, "u1", "case", minutes=10),
            ev(2, "u1", "phone", minutes=0),
            ev(3, "u1", "shoe", minutes=10),
            ev(4, "u1", None, kind="search", minutes=20),
        ]
    )
    assert [e.event_id for e in store.user_events("u1")] == ["e2", "e1", "e3", "e4"]
    assert [e.event_id for e in store.user_events("u1", limit=2)] == ["e3", "e4"]
    since = store.user_events("u1", since=T0 + timedelta(minutes=5))
    assert [e.event_id for e in since] == ["e1", "e3", "e4"]
    views = store.user_events("u1", kinds=[EventKind.SEARCH])
    assert [e.query for e in views] == ["red shoes"]


def test_events_frame_and_catalog_queries(store: Store) -> None:
    store.append_events([ev(1, "u1", "phone"), ev(2, "u2", "case", minutes=1)])
    frame = store.events_frame()
    assert list(frame["event_id"]) == ["e1", "e2"]
    assert frame["ts"].iloc[0] == T0.timestamp()
    assert [i.id for i in store.items(category="Electronics")] == ["case", "phone"]
    assert [i.id for i in store.items(available=False)] == ["shoe"]
    assert [i.id for i in store.items(limit=1, offset=1)] == ["phone"]


def test_training_frame_reads_the_same_events_as_events_frame(store: Store) -> None:
    store.append_events(
        [
            ev(1, "u2", "case", minutes=10),
            ev(2, "u1", "phone", minutes=0),
            ev(3, "u1", "shoe", kind="purchase", minutes=10),  # ties e1: insertion order
            ev(4, "u1", None, kind="search", minutes=20),  # no item: left out
            ev(5, "u3", "phone", kind="click", minutes=5),
            ev(6, "u2", "phone", kind="purchase", minutes=30),
        ]
    )
    for kinds in (None, ["view", "purchase"]):
        full = store.events_frame(kinds=kinds).dropna(subset=["item_id"])
        compact = store.training_frame(kinds=kinds, chunk_rows=2)  # several chunks
        assert len(compact) == len(full) == (5 if kinds is None else 4)
        for column in ("user_id", "item_id", "kind"):
            assert isinstance(compact[column].dtype, pd.CategoricalDtype)
            assert list(compact[column].astype(str)) == list(full[column])
        assert compact["ts"].tolist() == full["ts"].tolist()
    compact = store.training_frame()
    assert list(compact["item_id"].astype(str)) == ["phone", "phone", "case", "shoe", "phone"]
    assert list(compact["user_id"].cat.categories) == ["u1", "u3", "u2"]  # first appearance
    assert compact["user_id"].cat.codes.dtype == "int8"  # compact: pandas' smallest codes
    empty = store.training_frame(kinds=["rating"])
    assert len(empty) == 0 and list(empty.columns) == ["user_id", "item_id", "kind", "ts"]


def test_dataset_from_store_is_the_one_the_full_rows_give(store: Store) -> None:
    from cartwise.data.dataset import Dataset

    store.append_events(
        [
            ev(1, "u2", "case", minutes=10),
            ev(2, "u1", "phone", minutes=0),
            ev(3, "u1", "shoe", kind="purchase", minutes=10),
            ev(4, "u1", None, kind="search", minutes=20),
            ev(5, "u3", "phone", kind="click", minutes=5),
        ]
    )
    events = store.events_frame(kinds=store.positive_kinds()).dropna(subset=["item_id"])
    frame = events.rename(columns={"ts": "timestamp"})[["user_id", "item_id", "timestamp", "kind"]]
    catalog = store.items_frame().rename(columns={"id": "item_id"})
    before = Dataset.from_frame(frame, catalog, name="store")  # the reader before training_frame
    after = Dataset.from_store(store)
    assert after.users == before.users and after.items == before.items
    assert after.kind_vocab == before.kind_vocab
    for a, b in zip(after.sequences, before.sequences, strict=True):
        assert a.tolist() == b.tolist()
    assert after.kinds is not None and before.kinds is not None
    assert [k.tolist() for k in after.kinds] == [k.tolist() for k in before.kinds]
    assert after.timestamps is not None and before.timestamps is not None
    assert [t.tolist() for t in after.timestamps] == [t.tolist() for t in before.timestamps]
    assert after.users.ids == ["u1", "u3", "u2"]  # shoppers numbered by first event


def test_delete_user_leaves_no_row_mentioning_them(store: Store) -> None:
    store.upsert_users([User(id="u1", attributes={"tier": "gold"}), User(id="u2")])
    store.append_events([ev(1, "u1", "phone"), ev(2, "u1", "case"), ev(3, "u2", "phone")])
    removed = store.delete_user("u1")
    assert removed["events"] == 2 and removed["users"] == 1
    with store.engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                assert "u1" not in [str(v) for v in row], (table.name, row)
    assert store.counts() == {"items": 3, "users": 1, "events": 1}
    with pytest.raises(NotFoundError, match="user 'u1' is not in the store"):
        store.delete_user("u1")


def test_export_writes_parquet_round_trip(store: Store, tmp_path: Path) -> None:
    store.append_events([ev(1, "u1", "phone")])
    paths = store.export(tmp_path / "out")
    events = pd.read_parquet(paths["events"])
    items = pd.read_parquet(paths["items"])
    assert list(events["event_id"]) == ["e1"]
    assert sorted(items["id"]) == ["case", "phone", "shoe"]


def test_stats_counts_kinds_and_range(store: Store) -> None:
    store.append_events([ev(1, "u1", "phone"), ev(2, "u1", None, "search", minutes=3)])
    info = store.stats()
    assert info["events_by_kind"] == {"search": 1, "view": 1}
    assert info["first_event"] == T0.isoformat()


def test_unwritable_location_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open store"):
        Store(f"sqlite:///{blocker}/sub/db.sqlite")


@pytest.mark.parametrize("path", ["insert", "copy"])
def test_bulk_append_keeps_input_order_and_skips_stored_ids(
    store: Store, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    if path == "copy" and store.dialect != "postgresql":
        pytest.skip("COPY is PostgreSQL's bulk path")
    monkeypatch.setattr(bulk, "COPY_MIN_ROWS", 1 if path == "copy" else 10**9)
    # 30 events per minute: ties on ts must keep the input order
    events = [ev(i, f"u{i % 7}", ("phone", "case")[i % 2], minutes=i // 30) for i in range(3000)]
    events[5] = events[5].model_copy(update={"context": {"page": "home", "pos": 2}})
    first = store.append_events(events[:2000])
    again = store.append_events(events)
    assert (first.inserted, first.duplicates) == (2000, 0)
    assert (again.inserted, again.duplicates) == (1000, 2000)
    assert store.events_frame()["event_id"].tolist() == [f"e{i}" for i in range(3000)]
    assert store.counts() == {"items": 3, "users": 7, "events": 3000}
    stored = {e.event_id: e for e in store.user_events("u5")}
    assert stored["e5"].context == {"page": "home", "pos": 2}
    assert stored["e12"].context == {} and stored["e12"].timestamp == T0


def test_size_counts_what_the_rows_take(store: Store) -> None:
    empty = store.size_bytes()
    store.append_events([ev(i, f"u{i}", "phone", minutes=i) for i in range(3000)])
    assert store.size_bytes() > empty + 3000 * 50  # id, user, kind and time: > 50 bytes a row


def test_bulk_append_with_an_id_repeated_in_the_rows(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The COPY path's plain INSERT fails on a repeated id and is redone skipping it."""
    monkeypatch.setattr(bulk, "COPY_MIN_ROWS", 1)
    store.append_events([ev(1, "u1", "phone")])
    rows = [ev(2, "u1", "case", minutes=1), ev(1, "u1", "phone"), ev(2, "u2", "phone", minutes=2)]
    result = store.append_events(rows)
    assert (result.inserted, result.duplicates) == (1, 2)
    stored = store.events_frame()
    assert stored["event_id"].tolist() == ["e1", "e2"]
    assert stored["item_id"].tolist() == ["phone", "case"]  # the first of the repeated rows


def test_bulk_append_of_newer_rows_with_one_stored_id(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL: the straight COPY into events meets e1 and gives way to the other path."""
    monkeypatch.setattr(bulk, "COPY_MIN_ROWS", 1)
    store.append_events([ev(1, "u1", "phone")])
    result = store.append_events(
        [ev(5, "u2", "case", minutes=10), ev(1, "u1", "phone", minutes=11)]
    )
    assert (result.inserted, result.duplicates) == (1, 1)
    assert store.events_frame()["event_id"].tolist() == ["e1", "e5"]
    assert store.counts()["users"] == 2


def test_ids_sort_the_same_on_every_backend(store: Store) -> None:
    """Ids are opaque strings: ordered by their bytes (code points), as SQLite does, whatever
    the PostgreSQL database's language (the test database sorts text as en-US)."""
    ids = ["b", "B", "a", "A", "a10", "a9", "_x", "é", "Z"]
    store.upsert_items([Item(id=i, title=i) for i in ids])
    assert [i.id for i in store.items()] == sorted(ids + ["case", "phone", "shoe"])
    store.append_events([ev(n, user, "phone") for n, user in enumerate(ids)])
    assert store.users_frame()["id"].tolist() == sorted(ids)


def test_text_no_backend_can_store_is_refused(store: Store) -> None:
    before = store.counts()
    with pytest.raises(InputError, match=r"items, line 2, field 'title': .*NUL character"):
        store.upsert_items([Item(id="a", title="ok"), Item(id="b", title="x\x00y")])
    with pytest.raises(InputError, match=r"items, line 1, field 'currency': 'DOLLARS_US'"):
        store.upsert_items([Item(id="a", currency="DOLLARS_US")])
    search = Event(event_id="s1", user_id="u1", kind=EventKind.SEARCH, query="a\x00", timestamp=T0)
    with pytest.raises(InputError, match=r"events, line 1, field 'query'"):
        store.append_events([search])
    assert store.counts() == before


def test_postgresql_urls_use_psycopg_and_hide_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    assert connect.store_url("postgres://shop@db/cw") == "postgresql+psycopg://shop@db/cw"
    assert connect.store_url("postgresql://shop@db/cw") == "postgresql+psycopg://shop@db/cw"
    with pytest.raises(StoreError, match="cannot open store") as refused:
        Store("postgresql://shop:s3cret@127.0.0.1:1/cw")  # nothing listens on port 1
    assert "s3cret" not in str(refused.value) and "***" in str(refused.value)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the pg extra were not installed
    with pytest.raises(StoreError, match=r"pip install 'cartwise\[pg\]'"):
        Store("postgresql://shop@127.0.0.1:1/cw")
