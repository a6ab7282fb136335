"""A bounded cache of finished answers, whose correctness comes from the store, not memory.

Scoring a shopper's history, tie-breaking, taking the top-k and writing the reasons cost far more
than reading what the answer depends on. So an answer is kept under a key made of everything
that decides it, all of it read from the store (or the ACTIVE file) on every request:

- the model view: the active model version *and* the catalog snapshot it is aligned with (a
  new version, from any process, or a re-read catalog makes a new view, and the cache drops
  every answer of the old one);
- a digest of the shopper's history as just read from the store (their latest positive events
  and the items they bought): any new event, from any process, changes it;
- the request's parameters (k, filters, diversity).

An answer also depends on the fresh item rows it was checked against (availability is never
served stale). So the ids of every candidate examined are kept with their rows, and a hit reads
those rows again, in one indexed query, and is used only when every one is unchanged; else the
answer is computed again. A hit is therefore what the full computation would give on the same
store state; the in-process memory only saves work.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from cartwise.data.catalog import ItemRows
from cartwise.data.schema import Item
from cartwise.ranking.results import Served

#: Answers kept by default (each holds k recommendations and the ids of ~2k candidates).
DEFAULT_CAPACITY = 10_000

#: What :class:`AnswerCache` hands a computation: fill it with id → fresh row (None: no row)
#: for every candidate the answer was decided on.
Seen = dict[str, Item | None]


@dataclass(frozen=True)
class _Entry:
    served: Served
    seen: Seen


def history_digest(events: Iterable[tuple[object, ...]], exclude: Iterable[str] = ()) -> bytes:
    """A 128-bit digest of a history ((item_id, kind, time) events, in order) and an
    exclusion set.

    ``repr`` quotes every string, so two different inputs never give the same text.
    """
    text = repr((list(events), sorted(exclude)))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class AnswerCache:
    """Least recently used answers of one model view, validated on fresh rows at every hit.

    Args:
        capacity: most answers kept; 0 turns caching off (every answer is computed).

    Thread-safe. ``hits``, ``misses`` and ``stale`` (hits refused because a row changed) count
    lookups since the cache was made.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be 0 (off) or more, got {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._owner: object | None = None  # the model view the entries belong to
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.stale = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def enabled(self) -> bool:
        """Whether answers are kept."""
        return self.capacity > 0

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._entries.clear()

    def answer(
        self,
        owner: object,
        key: Hashable,
        rows: ItemRows,
        compute: Callable[[Seen], Served],
    ) -> Served:
        """The answer under (`owner`, `key`): kept, if every row it was decided on is unchanged
        in the store (read through `rows`), else ``compute(seen)``, which is kept.

        Args:
            owner: the model view the answer comes from (compared by identity).
            key: everything else that decides the answer.
            rows: reads fresh item rows; it hands out the same Item while a row is unchanged.
            compute: makes the answer and records in `seen` every candidate row it examined.
        """
        if not self.enabled:
            return compute({})
        kept = self._get(owner, key)
        if kept is not None:
            if _unchanged(rows, kept.seen):
                self.hits += 1
                return kept.served
            self.stale += 1
        else:
            self.misses += 1
        seen: Seen = {}
        served = compute(seen)
        self._put(owner, key, _Entry(served, seen))
        return served

    def _get(self, owner: object, key: Hashable) -> _Entry | None:
        with self._lock:
            if owner is not self._owner:
                return None
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def _put(self, owner: object, key: Hashable, entry: _Entry) -> None:
        with self._lock:
            if owner is not self._owner:  # another model version or catalog: old answers go
                self._entries.clear()
                self._owner = owner
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)


def _unchanged(rows: ItemRows, seen: Seen) -> bool:
    """Whether every row in `seen` reads the same now (an Item built anew means it changed, or
    was dropped from `rows`' memory: then the answer is computed again, never served stale)."""
    if not seen:
        return True
    fresh = rows.fetch(seen)
    return all(fresh.get(item_id) is item for item_id, item in seen.items())
