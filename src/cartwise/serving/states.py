"""Model scores of histories already seen, kept per loaded model: a shopper's model state is
computed once per history, not at every request.

A request scores the shopper's history, the single-item histories its reasons are drawn from and
the empty history (the popularity tie-break). The last two are shared by every shopper, and a
shopper's own history only changes when they do something, so the rows are kept under a key
made of the query itself (its item indices and whatever else it carries): a new event makes a
new history, hence a new key, and the old row is never used for it. Rows belong to one loaded
model object; another version (or the same version reloaded) starts empty.

Memory is bounded in bytes (a row is 4 bytes per item), least recently used rows go first.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import fields

import numpy as np

from cartwise.models.base import Query, Recommender

#: Bytes of score rows kept by default (~10,000 rows of a 3,000-item catalog).
DEFAULT_BYTES = 128 << 20


def query_key(query: Query) -> Hashable:
    """Everything a query holds, as a hashable key (arrays by dtype, shape and bytes)."""
    parts: list[Hashable] = []
    for f in fields(query):
        value = getattr(query, f.name)
        if isinstance(value, np.ndarray):
            parts.append((value.dtype.str, value.shape, value.tobytes()))
        else:
            parts.append(value)
    return tuple(parts)


class ScoreCache:
    """Score rows of queries, per model, bounded in bytes.

    Args:
        max_bytes: most bytes of rows kept per model (0: nothing is kept).

    Thread-safe. ``hits`` and ``misses`` count rows since the cache was made.
    """

    def __init__(self, max_bytes: int = DEFAULT_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be 0 (off) or more, got {max_bytes}")
        self.max_bytes = max_bytes
        self._rows: weakref.WeakKeyDictionary[Recommender, _Rows] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def score_many(
        self,
        model: Recommender,
        queries: Sequence[Query],
        compute: Callable[[Sequence[Query]], np.ndarray],
    ) -> np.ndarray:
        """Rows for `queries` (a new array): kept ones, and ``compute(misses)`` for the rest."""
        if self.max_bytes <= 0:
            return compute(queries)
        with self._lock:
            rows = self._rows.get(model)
            if rows is None:
                rows = self._rows[model] = _Rows(self.max_bytes)
        keys = [query_key(q) for q in queries]
        found = rows.get_many(keys)
        missing = [i for i, row in enumerate(found) if row is None]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            fresh = compute([queries[i] for i in missing])
            for i, row in zip(missing, fresh, strict=True):
                kept = np.array(row, copy=True)
                kept.flags.writeable = False
                found[i] = kept
            rows.put_many([(keys[i], found[i]) for i in missing])  # type: ignore[misc]
        return np.stack(found)  # type: ignore[arg-type]


class _Rows:
    """One model's rows: least recently used first out, at most `max_bytes`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._rows: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[Hashable]) -> list[np.ndarray | None]:
        with self._lock:
            out: list[np.ndarray | None] = []
            for key in keys:
                row = self._rows.get(key)
                if row is not None:
                    self._rows.move_to_end(key)
                out.append(row)
            return out

    def put_many(self, items: Sequence[tuple[Hashable, np.ndarray]]) -> None:
        with self._lock:
            for key, row in items:
                if key in self._rows:
                    continue
                self._rows[key] = row
                self.bytes += row.nbytes
            while self.bytes > self.max_bytes and self._rows:
                _, old = self._rows.popitem(last=False)
                self.bytes -= old.nbytes
