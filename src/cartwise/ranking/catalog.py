"""The catalog as arrays, for fast filtering of scores, plus batch reads of fresh item rows.

A :class:`CatalogIndex` is a snapshot of the store's items ordered by id. It can be stale (the
store is shared with other processes), so whatever is finally shown to a shopper is re-checked
against rows read with :func:`fetch_items` in the same request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import bindparam, select

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
    built_at: float = field(default_factory=time.monotonic)

    @property
    def size(self) -> int:
        """Number of items."""
        return len(self.ids)

    @classmethod
    def from_store(cls, store: Store) -> CatalogIndex:
        """Read the whole catalog once."""
        started = time.perf_counter()
        c = t.items.c
        cols = (c.id, c.title, c.description, c.category, c.brand, c.price, c.available)
        extra = (c.attributes, c.placeholder)
        with store.engine.connect() as conn:
            rows = list(conn.execute(select(*cols, *extra).order_by(c.id)).all())
        index = cls._from_rows(rows)
        _log.info("catalog index: %d items in %.2fs", index.size, time.perf_counter() - started)
        return index

    @classmethod
    def _from_rows(cls, rows: list[Any]) -> CatalogIndex:
        n = len(rows)
        ids = [str(r[0]) for r in rows]
        paths = [[str(x) for x in (r[3] or [])] for r in rows]
        members: dict[str, list[int]] = {}
        for pos, path in enumerate(paths):
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
        )

    def vocab_positions(self, vocab: Vocabulary) -> np.ndarray:
        """For each model index (0..n), the catalog row of that item, or -1 when absent."""
        out = np.full(len(vocab), -1, dtype=np.int64)
        for idx, external in enumerate(vocab.ids, start=1):
            out[idx] = self.position.get(external, -1)
        return out


_BY_IDS = select(t.items).where(t.items.c.id.in_(bindparam("ids", expanding=True)))
_ITEM_COLUMNS = [c.name for c in t.items.columns]


def fetch_items(store: Store, ids: Iterable[str]) -> dict[str, Item]:
    """Fresh rows of the given items (absent ids are left out; placeholders are unavailable).

    Rows were validated when written, so records are built without validating them again
    (this runs on every request).
    """
    wanted = list(dict.fromkeys(ids))
    found: dict[str, Item] = {}
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            for row in conn.execute(_BY_IDS, {"ids": chunk}):
                data = dict(zip(_ITEM_COLUMNS, tuple(row), strict=True))
                placeholder = bool(data.pop("placeholder", False))
                data["created_at"] = from_epoch(data["created_at"])
                data["available"] = bool(data["available"]) and not placeholder
                data["category"] = list(data["category"] or [])
                data["attributes"] = dict(data["attributes"] or {})
                found[data["id"]] = Item.model_construct(**data)
    return found
