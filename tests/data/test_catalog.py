"""Fresh item rows (ItemRows, fetch_items) and the catalog change markers (catalog_mark, and
the cheap catalog_stamp replicas poll)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import update

from cartwise.data import tables as t
from cartwise.data.catalog import (
    CatalogIndex,
    ItemRows,
    catalog_mark,
    catalog_stamp,
    fetch_items,
)
from cartwise.data.schema import Item
from cartwise.data.store import Store


def _items() -> list[Item]:
    return [
        Item(
            id=f"i{n}",
            title=f"Item {n}",
            category=["Sports", "Shoes"],
            price=10.0 + n,
            attributes={"type": "product", "color": "red"},
        )
        for n in range(4)
    ]


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """The catalog, on SQLite and on PostgreSQL."""
    s = Store.open(store_url)
    s.upsert_items(_items())
    yield s
    s.close()


def test_item_rows_read_what_fetch_items_reads(store: Store) -> None:
    rows = ItemRows(store)
    store.upsert_items([Item(id="ph", title="Placeholder")])
    with store.engine.begin() as conn:  # as ingest does for events naming unknown items
        conn.execute(update(t.items).where(t.items.c.id == "ph").values(placeholder=True))
    ids = ["i2", "nope", "i0", "ph", "i2"]
    got = rows.fetch(ids)
    plain = fetch_items(store, ids)
    assert set(got) == set(plain) == {"i0", "i2", "ph"}
    for item_id in got:
        assert got[item_id].model_dump() == plain[item_id].model_dump()
    assert got["i2"].attributes == {"type": "product", "color": "red"}
    assert got["i2"].category == ["Sports", "Shoes"]
    assert not got["ph"].available  # placeholders are never shown


def test_item_rows_reuse_the_item_of_an_unchanged_row(store: Store) -> None:
    rows = ItemRows(store)
    first = rows.fetch(["i1", "i2"])
    again = rows.fetch(["i2", "i1"])
    assert again["i1"] is first["i1"] and again["i2"] is first["i2"]


def test_item_rows_rebuild_a_changed_row(store: Store) -> None:
    rows = ItemRows(store)
    before = rows.fetch(["i1"])["i1"]
    other = Store.open(store.url)  # another writer, e.g. another service process
    try:
        other.upsert_items([Item(id="i1", title="Item 1", price=11.0, available=False)])
    finally:
        other.close()
    after = rows.fetch(["i1"])["i1"]
    assert after is not before
    assert before.available and not after.available
    assert rows.fetch(["i1"])["i1"] is after  # and reused from then on


def test_item_rows_keep_at_most_capacity_items(store: Store) -> None:
    rows = ItemRows(store, capacity=2)
    first = rows.fetch(["i0", "i1", "i2", "i3"])
    assert len(rows._built) == 2
    again = rows.fetch(["i0", "i3"])
    assert again["i3"] is first["i3"]  # among the latest kept
    assert again["i0"] is not first["i0"]  # dropped, built again from its (equal) row
    assert again["i0"].model_dump() == first["i0"].model_dump()
    assert len(rows._built) == 2


def test_catalog_mark_is_stable_until_an_indexed_column_changes(store: Store) -> None:
    mark = catalog_mark(store)
    assert catalog_mark(store) == mark
    assert CatalogIndex.from_store(store).ids == ["i0", "i1", "i2", "i3"]
    changes = [
        {"title": "Renamed"},
        {"price": 99.0},
        {"available": False},
        {"category": ["Sports", "Socks"]},
        {"attributes": {"type": "article"}},
        {"brand": "Acme"},
        {"description": "now described"},
    ]
    for change in changes:
        original = _items()[2]
        store.upsert_items([original.model_copy(update=change)])
        assert catalog_mark(store) != mark, change
        store.upsert_items([original])
        assert catalog_mark(store) == mark, change


def test_catalog_mark_sees_added_and_deleted_items(store: Store) -> None:
    mark = catalog_mark(store)
    store.upsert_items([Item(id="new", title="New")])
    added = catalog_mark(store)
    assert added != mark
    store.delete_item("new")
    assert catalog_mark(store) == mark
    store.delete_item("i0")
    assert catalog_mark(store) not in {mark, added}


def test_catalog_mark_ignores_columns_the_index_does_not_read(store: Store) -> None:
    mark = catalog_mark(store)
    with store.engine.begin() as conn:
        conn.execute(update(t.items).values(currency="EUR"))
    assert catalog_mark(store) == mark


def test_catalog_stamp_moves_when_items_are_added_deleted_or_written_again(store: Store) -> None:
    stamp = catalog_stamp(store)
    assert stamp[0] == 4 and catalog_stamp(store) == stamp
    store.upsert_items([Item(id="new", title="New")])
    added = catalog_stamp(store)
    assert added[0] == 5 and added != stamp
    store.upsert_items([Item(id="i1", title="Renamed")])  # created_at: now, as PUT /items sends
    renamed = catalog_stamp(store)
    assert renamed[0] == 5 and renamed[1] > added[1]
    store.delete_item("i0")
    assert catalog_stamp(store)[0] == 4
