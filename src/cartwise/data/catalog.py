"""The catalog as arrays, for fast filtering of scores, plus batch reads of fresh item rows.

A :class:`CatalogIndex` is a snapshot of the store's items ordered by id. It can be stale (the
store is shared with other processes), so whatever is finally shown to a shopper is re-checked
against rows read with :func:`fetch_items` in the same request.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import JSON, Column, Text, bindparam, cast, func, select

from cartwise.data import lean
from cartwise.data import tables as t
from cartwise.data.dataset import Vocabulary
from cartwise.data.schema import Item
from cartwise.data.store import Store, from_epoch

_log = logging.getLogger(__name__)

#: Items without ``attributes["type"]`` are products.
DEFAULT_TYPE = "product"

_IN_CHUNK = 900  # SQLite's host-parameter limit is 999 on old builds


def item_type(attributes: dict[str, Any] | None) -> str:
    """The item's content type (``attributes["type"]``), ``product`` when absent."""
    value = (attributes or {}).get("type")
    return str(value).lower() if value else DEFAULT_TYPE


@dataclass(frozen=True, eq=False)
class CatalogIndex:
    """Catalog columns as arrays, one row per item, ordered by id.

    Attributes:
        ids: external item ids.
        position: id → row.
        available: bool per row (placeholders are unavailable).
        price: float per row, NaN when unknown.
        types: content type per row (lower case).
        leaf: last category of the path per row ("" when none).
        categories: lower-cased category name (any level) → rows holding it.
        category_names: lower-cased category name → its spelling in the catalog.
        fields: searchable text per row: title, brand, category path, description.
        built_at: monotonic time the snapshot was taken.
    """

    ids: list[str]
    position: dict[str, int]
    available: np.ndarray
    price: np.ndarray
    types: np.ndarray
    leaf: list[str]
    categories: dict[str, np.ndarray]
    fields: dict[str, list[str]]
    category_names: dict[str, str] = field(default_factory=dict)
    built_at: float = field(default_factory=time.monotonic)

    @property
    def size(self) -> int:
        """Number of items."""
        return len(self.ids)

    @classmethod
    def from_store(cls, store: Store) -> CatalogIndex:
        """Read the whole catalog once."""
        started = time.perf_counter()
        with store.engine.connect() as conn:
            rows = list(conn.execute(select(*_INDEXED).order_by(t.items.c.id)).all())
        index = cls._from_rows(rows)
        _log.info("catalog index: %d items in %.2fs", index.size, time.perf_counter() - started)
        return index

    @classmethod
    def _from_rows(cls, rows: list[Any]) -> CatalogIndex:
        n = len(rows)
        ids = [str(r[0]) for r in rows]
        paths = [[str(x) for x in (r[3] or [])] for r in rows]
        members: dict[str, list[int]] = {}
        spelled: dict[str, str] = {}
        for pos, path in enumerate(paths):
            for name in path:
                spelled.setdefault(name.lower(), name)
            for name in {p.lower() for p in path}:
                members.setdefault(name, []).append(pos)
        price = np.array([np.nan if r[5] is None else float(r[5]) for r in rows], dtype=np.float64)
        return cls(
            ids=ids,
            position={i: p for p, i in enumerate(ids)},
            available=np.fromiter((bool(r[6]) and not r[8] for r in rows), dtype=bool, count=n),
            price=price,
            types=np.array([item_type(r[7]) for r in rows], dtype=object),
            leaf=[path[-1] if path else "" for path in paths],
            categories={k: np.asarray(v, dtype=np.int64) for k, v in members.items()},
            fields={
                "title": [r[1] or "" for r in rows],
                "brand": [r[4] or "" for r in rows],
                "category": [" ".join(p) for p in paths],
                "description": [r[2] or "" for r in rows],
            },
            category_names=spelled,
        )

    def vocab_positions(self, vocab: Vocabulary) -> np.ndarray:
        """For each model index (0..n), the catalog row of that item, or -1 when absent."""
        out = np.full(len(vocab), -1, dtype=np.int64)
        for idx, external in enumerate(vocab.ids, start=1):
            out[idx] = self.position.get(external, -1)
        return out


_C = t.items.c
#: The item columns a CatalogIndex is built from, in the order ``_from_rows`` reads them.
_INDEXED: list[Column[Any]] = [_C.id, _C.title, _C.description, _C.category, _C.brand]
_INDEXED += [_C.price, _C.available, _C.attributes, _C.placeholder]
_MARK = select(*(cast(c, Text) if isinstance(c.type, JSON) else c for c in _INDEXED))
_MARK = _MARK.order_by(_C.id)


def catalog_mark(store: Store) -> int:
    """A hash of every item column a :class:`CatalogIndex` is built from: while it is unchanged
    a new index would equal the old one. Reading the rows costs a fraction of building the
    index (no JSON decoding, no per-item Python objects): ~0.2 s against ~1.3 s of CPU for
    100,000 items."""
    with store.engine.connect() as conn:
        return hash(tuple(tuple(row) for row in conn.execute(_MARK)))


_STAMP = select(func.count(), func.max(_C.created_at)).select_from(t.items)


def catalog_stamp(store: Store) -> tuple[int, float]:
    """A cheap sign that items were added, deleted or written without a ``created_at`` of
    their own (an item's ``created_at`` defaults to the time it is written, as PUT /items does):
    (count, latest created_at). One aggregate over the items table, no rows to the client
    (~10 ms for 100,000 items), so replicas can ask it every second; a rewrite that keeps an
    old ``created_at`` is found by :func:`catalog_mark` instead."""
    with store.engine.connect() as conn:
        row = conn.execute(_STAMP).one()
    return int(row[0]), float(row[1] or 0.0)


_BY_IDS = select(t.items).where(t.items.c.id.in_(bindparam("ids", expanding=True)))
_ITEM_COLUMNS = [c.name for c in t.items.columns]
# The item rows with the JSON columns as their stored text: a hashable row that says whether
# the item changed, decoded only when it did.
_JSON_COLUMNS = [
    n for n, c in zip(_ITEM_COLUMNS, t.items.columns, strict=True) if isinstance(c.type, JSON)
]
_RAW_COLUMNS = ", ".join(f"CAST({n} AS TEXT)" if n in _JSON_COLUMNS else n for n in _ITEM_COLUMNS)


def _raw_sql(n: int) -> str:
    """The item rows of `n` ids, JSON columns as text, as plain SQL (the per-request read, see
    :mod:`cartwise.data.lean`)."""
    return f"SELECT {_RAW_COLUMNS} FROM {t.items.name} WHERE id IN ({lean.marks(n)})"


def _item(data: dict[str, Any]) -> Item:
    """An Item from a stored row; rows were validated when written, so it is not validated
    again (this runs on every request)."""
    placeholder = bool(data.pop("placeholder", False))
    data["created_at"] = from_epoch(data["created_at"])
    data["available"] = bool(data["available"]) and not placeholder
    data["category"] = list(data["category"] or [])
    data["attributes"] = dict(data["attributes"] or {})
    return Item.model_construct(**data)


def fetch_items(store: Store, ids: Iterable[str]) -> dict[str, Item]:
    """Fresh rows of the given items (absent ids are left out; placeholders are unavailable)."""
    wanted = list(dict.fromkeys(ids))
    found: dict[str, Item] = {}
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            for row in conn.execute(_BY_IDS, {"ids": chunk}):
                item = _item(dict(zip(_ITEM_COLUMNS, tuple(row), strict=True)))
                found[item.id] = item
    return found


class ItemRows:
    """:func:`fetch_items` that reuses the Item built from an unchanged row.

    Every call still reads the rows from the store (another process may have changed an item a
    moment ago); only decoding the JSON columns and building the record is skipped when the row
    read equals the one an Item was built from. Items handed out are shared between requests:
    treat them as read-only.

    Args:
        store: where rows are read.
        capacity: most Items kept (oldest dropped first).
    """

    def __init__(self, store: Store, capacity: int = 20_000) -> None:
        self.store = store
        self.capacity = capacity
        self._built: dict[str, tuple[tuple[Any, ...], Item]] = {}
        self._lock = threading.Lock()

    def fetch(self, ids: Iterable[str]) -> dict[str, Item]:
        """Fresh rows of the given items, as :func:`fetch_items`."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Item] = {}
        with self.store.engine.connect() as conn:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                for raw in lean.run(conn, _raw_sql(len(chunk)), chunk):
                    built = self._built.get(raw[0])
                    found[raw[0]] = built[1] if built and built[0] == raw else self._build(raw)
        return found

    def _build(self, raw: tuple[Any, ...]) -> Item:
        data = dict(zip(_ITEM_COLUMNS, raw, strict=True))
        for name in _JSON_COLUMNS:  # text on SQLite; a driver may already decode JSON
            if isinstance(data[name], str):
                data[name] = json.loads(data[name])
        item = _item(data)
        with self._lock:
            self._built.pop(item.id, None)
            while len(self._built) >= self.capacity:
                del self._built[next(iter(self._built))]
            self._built[item.id] = (raw, item)
        return item


def compatibility_index(store: Store, catalog: CatalogIndex) -> dict[str, np.ndarray]:
    """Item id → catalog rows of the items made for it (their ``attributes["compatible_with"]``)."""
    found: dict[str, list[int]] = {}
    c = t.items.c
    with store.engine.connect() as conn:
        for item_id, attributes in conn.execute(select(c.id, c.attributes)):
            target = (attributes or {}).get("compatible_with")
            row = catalog.position.get(str(item_id))
            if target and row is not None:
                found.setdefault(str(target), []).append(row)
    return {k: np.asarray(v, dtype=np.int64) for k, v in found.items()}
