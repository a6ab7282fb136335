"""The catalog snapshot follows writes made by other processes: the cheap stamp every `poll`
seconds, the rows hash every `ttl` seconds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from cartwise.data.schema import Item
from cartwise.data.store import Store
from cartwise.serving.catalog import CatalogSnapshot

OLD = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    s.upsert_items([Item(id="a", title="Alpha", created_at=OLD)])
    yield s
    s.close()


def _settled(snapshot: CatalogSnapshot, wanted: set[str], timeout: float = 20.0) -> bool:
    """Ask for the snapshot until it holds `wanted` (the refresh runs in the background)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if set(snapshot.current().ids) == wanted:
            return True
        time.sleep(0.02)
    return False


def test_an_item_added_by_another_process_is_found_by_the_stamp(store: Store) -> None:
    snapshot = CatalogSnapshot(store, ttl=3600.0, poll=0.05)
    assert snapshot.current().ids == ["a"]
    store.upsert_items([Item(id="b", title="Beta")])  # not through this snapshot
    assert _settled(snapshot, {"a", "b"})


def test_a_rewrite_keeping_created_at_waits_for_the_rows_hash(store: Store) -> None:
    snapshot = CatalogSnapshot(store, ttl=3600.0, poll=0.05)
    first = snapshot.current()
    store.upsert_items([Item(id="a", title="Renamed", created_at=OLD)])  # same stamp
    time.sleep(0.3)
    for _ in range(5):
        assert snapshot.current() is first  # the stamp did not move: no re-read
        time.sleep(0.06)
    snapshot.ttl = 0.05
    deadline = time.monotonic() + 20
    while snapshot.current().fields["title"] != ["Renamed"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert snapshot.current().fields["title"] == ["Renamed"]
