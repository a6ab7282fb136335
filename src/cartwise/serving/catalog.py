"""The catalog snapshot the engine ranks over, and what is built from each snapshot.

A :class:`~cartwise.data.catalog.CatalogIndex` is read once and shared by every request. Writes
through this process (:meth:`CatalogSnapshot.changed`) take effect on the next request. Writes by
other processes (replicas over the same store) are found by two background checks: every
`poll` seconds a cheap one (:func:`~cartwise.data.catalog.catalog_stamp`: item count and latest
``created_at``, which every item added, deleted or written over HTTP moves), and every `ttl`
seconds a thorough one, which re-reads the catalog only when its rows hash differently
(:func:`~cartwise.data.catalog.catalog_mark`: a rewrite that kept an old ``created_at``). Item
availability never waits for either: answers are checked on fresh rows. Things built from a
snapshot (the search matcher, the compatibility index) are kept per snapshot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from cartwise.data.catalog import CatalogIndex, catalog_mark, catalog_stamp
from cartwise.data.store import Store

_log = logging.getLogger(__name__)

T = TypeVar("T")


class CatalogSnapshot:
    """The current :class:`CatalogIndex` of a store.

    Args:
        store: where items are read.
        ttl: seconds after which the rows are hashed again in the background.
        poll: seconds after which the cheap stamp is read again in the background (0: never).
    """

    def __init__(self, store: Store, ttl: float = 30.0, poll: float = 1.0) -> None:
        self.store = store
        self.ttl = ttl
        self.poll = poll
        self._catalog: CatalogIndex | None = None
        self._dirty = False
        self._lock = threading.Lock()
        self._refreshing = False
        self._mark: int | None = None  # hash of the rows the snapshot was built from
        self._stamp: tuple[int, float] | None = None  # the stamp read before building it
        self._checked = 0.0  # when the rows were last found current
        self._polled = 0.0  # when the stamp was last read

    def current(self) -> CatalogIndex:
        """The snapshot: rebuilt now after :meth:`changed`, in the background when older than
        `ttl` and the item rows changed (any process may write them)."""
        current = self._catalog
        if current is None or self._dirty:
            with self._lock:
                if self._catalog is None or self._dirty:
                    self._dirty = False
                    self._stamp = catalog_stamp(self.store)
                    self._mark = catalog_mark(self.store)
                    self._catalog = CatalogIndex.from_store(self.store)
                    self._polled = time.monotonic()
                return self._catalog
        now = time.monotonic()
        thorough = now - max(current.built_at, self._checked) > self.ttl
        cheap = self.poll > 0 and now - max(current.built_at, self._polled) > self.poll
        if (thorough or cheap) and not self._refreshing:
            self._refreshing = True
            threading.Thread(target=self._refresh, args=(thorough,), daemon=True).start()
        return current

    def changed(self) -> None:
        """Items were written or deleted: the next request re-reads the catalog."""
        self._dirty = True

    def _refresh(self, thorough: bool) -> None:
        """Re-read the catalog when the stamp moved or (`thorough`) the rows hash otherwise
        than when the snapshot was read: rebuilding 100,000 items takes seconds of CPU (and
        the model view is re-aligned after), hashing them a fraction of that, every `ttl`, and
        reading the stamp a few milliseconds, every `poll`."""
        try:
            stamp = catalog_stamp(self.store)  # before reading: a later change is seen next time
            self._polled = time.monotonic()
            mark = catalog_mark(self.store) if thorough or stamp != self._stamp else self._mark
            if mark != self._mark:
                fresh = CatalogIndex.from_store(self.store)
                with self._lock:
                    self._catalog = fresh
                    self._mark = mark
            self._stamp = stamp
            if thorough:
                self._checked = time.monotonic()
        except Exception:  # a failed background refresh keeps the old snapshot
            _log.exception("catalog refresh failed; keeping the previous snapshot")
        finally:
            self._refreshing = False


class PerCatalog(Generic[T]):
    """A value built from a catalog snapshot on first use, kept until the snapshot changes.

    Args:
        build: makes the value from a snapshot (e.g. the search matcher).
    """

    def __init__(self, build: Callable[[CatalogIndex], T]) -> None:
        self.build = build
        self._built: tuple[CatalogIndex, T] | None = None
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """Whether a value was built (for any snapshot)."""
        return self._built is not None

    def get(self, catalog: CatalogIndex) -> T:
        """The value for `catalog`, built now if it was built for another one."""
        built = self._built
        if built is not None and built[0] is catalog:
            return built[1]
        with self._lock:
            built = self._built
            if built is None or built[0] is not catalog:
                built = (catalog, self.build(catalog))
                self._built = built
            return built[1]
