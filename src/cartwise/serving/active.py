"""The active model: which saved version serves, loaded once and aligned with the catalog.

:class:`ActiveModel` watches the ``ACTIVE`` file of a model folder (any process, on any machine
sharing the folder, may replace it) and hands out a :class:`ModelView`: the loaded model aligned
with one catalog snapshot. While one thread loads a newly activated version, the others keep
answering with the previous view, so a swap never blocks or fails a request (a request in flight
keeps the view it started with); a version that fails to load is logged and retried later while
the previous one keeps serving.

A local folder's ACTIVE file is checked at every request (one ``stat``); a model URL's
(``s3://...``) is read again at most every `poll_seconds`, which bounds how long a replica
serves the previous version after an activation elsewhere.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cartwise.data.catalog import CatalogIndex
from cartwise.data.dataset import selected_kinds
from cartwise.data.store import Store
from cartwise.errors import ModelError
from cartwise.lifecycle import Versions
from cartwise.models.base import Query, Recommender
from cartwise.models.vectors import dot_product
from cartwise.ranking.ann import AnnPolicy, VectorIndex
from cartwise.ranking.filters import Filters, catalog_mask
from cartwise.ranking.reasons import Touch

_log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ModelView:
    """A loaded model version aligned with one catalog snapshot.

    Attributes:
        version: the version's name.
        model: the loaded model.
        catalog: the catalog snapshot.
        rows: per model index, the item's catalog row (-1 when not in the catalog).
        shown: per model index, whether the item may be shown with no filter (available and
            in the catalog); set by :meth:`build`.
        hidden: the model indices `shown` rules out, in order; set by :meth:`build`.
        ann: the index over the model's item vectors when the catalog is large enough
            (:mod:`cartwise.ranking.ann`); None: exact scoring. Built once per loaded version.
        memo: things worked out once per view on first use (e.g. the cold-start tie-break).
    """

    version: str
    model: Recommender
    catalog: CatalogIndex
    rows: np.ndarray
    shown: np.ndarray | None = None
    hidden: np.ndarray | None = None
    ann: VectorIndex | None = None
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(
        cls,
        version: str,
        model: Recommender,
        catalog: CatalogIndex,
        ann: VectorIndex | None = None,
    ) -> ModelView:
        """Align `model`'s vocabulary with `catalog` (`ann`: the version's item index)."""
        assert model.items_ is not None
        rows = catalog.vocab_positions(model.items_)
        shown = cls(version, model, catalog, rows).vocab_mask(Filters())
        hidden = np.flatnonzero(~shown)
        for a in (shown, hidden):
            a.flags.writeable = False  # shared by every request without filters
        return cls(version, model, catalog, rows, shown, hidden, ann)

    def hide(self, scores: np.ndarray, filters: Filters) -> None:
        """Set to -inf, in place, the scores of items not in the catalog or not passing
        `filters` (with no filter, by the indices worked out once per view: no mask pass)."""
        if filters.empty and self.hidden is not None:
            scores[self.hidden] = -np.inf
        else:
            scores[~self.vocab_mask(filters)] = -np.inf

    def vocab_mask(self, filters: Filters) -> np.ndarray:
        """Per model index: whether the item is in the catalog and passes `filters` (read-only
        when no filter applies: computed once per view)."""
        if filters.empty and self.shown is not None:
            return self.shown
        allowed = catalog_mask(self.catalog, filters)
        out = np.zeros(len(self.rows), dtype=bool)
        known = self.rows >= 0
        out[known] = allowed[self.rows[known]]
        return out

    def index(self, item_id: str) -> int | None:
        """The model index of an external item id, or None when the model does not know it."""
        assert self.model.items_ is not None
        return self.model.items_.get(item_id)

    def query(self, touches: Sequence[Touch]) -> Query:
        """The model's query for a history of touches: item indices, plus kind codes and times
        when the model reads them (an event-aware model: it has ``kinds_`` and
        ``kind_codes``)."""
        indices = [t.index for t in touches]
        if getattr(self.model, "kinds_", None) is None:
            return Query.of(indices)
        codes = self.model.kind_codes([t.kind for t in touches])  # type: ignore[attr-defined]
        times = [t.time if t.time is not None else np.nan for t in touches]
        return Query.of(indices, kinds=codes, times=times)

    def read_kinds(self, store: Store) -> list[str]:
        """The event kinds this view's model reads (its ``input_kinds``), resolved against the
        store's declared kinds once per view."""
        found: list[str] | None = self.memo.get("read_kinds")
        if found is None:
            found = self.memo["read_kinds"] = selected_kinds(store, self.model.input_kinds)
        return found

    def decode(self, indices: list[int]) -> list[str]:
        """Model indices → external item ids."""
        assert self.model.items_ is not None
        return self.model.items_.decode(indices)


class ActiveModel:
    """The version named by the model folder's ``ACTIVE`` file, as a :class:`ModelView`.

    Args:
        versions: the saved versions.
        warm_up: called once with each newly loaded model before it serves (first calls pay
            for lazy allocations and page-ins).
        poll_seconds: how often the ACTIVE file of a model URL is read again (a local folder's
            is checked at every request).
        pinned: always serve this version instead of the ``ACTIVE`` one (an experiment
            variant's model, :mod:`cartwise.serving.experiments`).
        ann: when a loaded dot-product model gets an item index (built as it loads, before it
            serves, and kept until another version is activated).
    """

    def __init__(
        self,
        versions: Versions,
        warm_up: Callable[[Recommender], None] | None = None,
        *,
        poll_seconds: float = 1.0,
        pinned: str | None = None,
        ann: AnnPolicy | None = None,
    ) -> None:
        self.versions = versions
        self.warm_up = warm_up
        self.poll_seconds = poll_seconds
        self.pinned = pinned
        self.ann = ann or AnnPolicy()
        self._view: ModelView | None = None
        self._lock = threading.Lock()
        self._active: tuple[Hashable, str | None, float] | None = None
        self._failed: tuple[str, float] | None = None  # a version that did not load, and when

    def version(self) -> str | None:
        """The active version's name, or None when nothing was trained yet.

        Every request asks; a local ACTIVE file is only read again when it changed (activation
        replaces it with a new file, so its inode, time or size differ), a remote one when it
        was last read `poll_seconds` ago or more.
        A pinned model answers its pinned version.
        """
        if self.pinned is not None:
            return self.pinned
        stamp = self.versions.active_stamp()
        now = time.monotonic()
        known = self._active
        if known is not None:
            key, version, at = known
            if stamp is not None and key == stamp:
                return version
            if stamp is None and now - at < self.poll_seconds:
                return version
        version = self.versions.active()
        self._active = (stamp, version, now)
        return version

    def view(self, catalog: CatalogIndex) -> ModelView:
        """The active model aligned with `catalog`.

        Raises:
            ModelError: no version was trained or activated yet.
        """
        version = self.version()
        if version is None:
            raise ModelError(
                f"no trained model in {self.versions.where}; run 'cartwise train' or "
                "'cartwise demo'"
            )
        current = self._view
        if current is not None and current.version == version and current.catalog is catalog:
            return current
        swapping = current is not None and current.version != version
        if swapping and self._failed_recently(version):
            assert current is not None
            return current
        if not self._lock.acquire(blocking=not swapping):
            assert current is not None  # another thread loads the new version meanwhile
            return current
        try:
            return self._aligned(version, catalog)
        except Exception:
            if not swapping or current is None:
                raise
            # e.g. its files are not all readable yet on shared storage: keep serving
            _log.exception("loading model version %s failed; still serving %s", version,
                           current.version)  # fmt: skip
            self._failed = (version, time.monotonic())
            return current
        finally:
            self._lock.release()

    def _failed_recently(self, version: str) -> bool:
        failed = self._failed
        return (
            failed is not None
            and failed[0] == version
            and time.monotonic() - failed[1] < max(self.poll_seconds, 1.0)
        )

    def _aligned(self, version: str, catalog: CatalogIndex) -> ModelView:
        current = self._view
        if current is not None and current.version == version and current.catalog is catalog:
            return current
        if current is not None and current.version == version:
            model = current.model  # same version, newer catalog: align again, no reload
            index = current.ann
        else:
            model = self.versions.load(version)
            if self.warm_up is not None:
                started = time.perf_counter()
                self.warm_up(model)
                _log.info("warmed up %s in %.2fs", version, time.perf_counter() - started)
            index = item_index(model, self.ann)
            _log.info("serving model version %s", version)
        self._view = ModelView.build(version, model, catalog, index)
        return self._view


def item_index(model: Recommender, policy: AnnPolicy) -> VectorIndex | None:
    """The index over `model`'s item vectors `policy` asks for, or None (exact scoring: not a
    dot-product model, a catalog under the threshold, or the index turned off)."""
    scorer = dot_product(model)
    if scorer is None:
        return None
    items = scorer.item_matrix()
    kind = policy.index_kind(items.shape[0] - 1, items.shape[1])
    return None if kind is None else VectorIndex.build(items, kind)
