"""Engine: the one object the CLI and the service call.

It ties a Store to saved model versions: trains a model on a snapshot of the store, saves it as
a version directory, marks it active, and answers recommendation requests by reading the
shopper's *latest* events from the store at request time (so a click counts without
retraining), then applying business rules (availability, category, price, already purchased),
optional diversity, and a reason per item.

Model versions are plain directories managed by :mod:`cartwise.lifecycle`. Nothing is held in
module globals: several engines (or processes) can share one store and model folder. An engine
is safe to share between threads; activating another version swaps the model between requests
without failing any (a request in flight keeps the model it started with).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cartwise.data.dataset import Dataset
from cartwise.data.store import Store
from cartwise.engine_search import Searching
from cartwise.errors import ModelError
from cartwise.lifecycle import ACTIVE_FILE, Versions
from cartwise.models.base import Query, Recommender, Rng
from cartwise.models.registry import REGISTRY, model_class
from cartwise.ranking.answers import DEFAULT_CAPACITY, AnswerCache
from cartwise.ranking.catalog import CatalogIndex, ItemRows, catalog_mark
from cartwise.ranking.explain import Explainer
from cartwise.ranking.history import purchased_items, recent_items
from cartwise.ranking.rerank import LMReranker, reranker_from_settings
from cartwise.ranking.scorer import Scorer
from cartwise.ranking.served import ModelView, Recommendation, Served
from cartwise.search import (
    Blender,
    KeywordMatcher,
    MatcherFactory,
    TextMatcher,
    blend,
    compatibility_index,
    matcher_from_settings,
)

if TYPE_CHECKING:
    from cartwise.config import Settings
    from cartwise.text.encoder import TextEncoder
    from cartwise.text.generator import TextGenerator

_log = logging.getLogger(__name__)

__all__ = ["Engine", "ModelView", "Recommendation", "Served", "available_models"]


class Engine(Searching):
    """Store + active model + business rules.

    Args:
        store: the shop's data.
        model_dir: folder of saved model versions.
        catalog_ttl: seconds after which the catalog snapshot is re-read in the background
            (writes through :meth:`catalog_changed` take effect on the next request).
        matcher: builds the search text matcher from a catalog snapshot.
        blender: mixes search relevance with the shopper's model scores.
        explainer: phrases personalised reasons from their evidence (e.g. with a generator);
            None keeps the template reasons.
        reranker: reorders personalised lists with a language model (off by default; see
            :mod:`cartwise.ranking.rerank`).
        answer_cache: most finished answers kept for shoppers and item pages (0: off). A kept
            answer is reused only while the model version, catalog snapshot, the shopper's
            history in the store and the rows of its candidates are unchanged (see
            :mod:`cartwise.ranking.answers`).

    :meth:`from_settings` builds the engine the CLI and the service use: hybrid search with
    the sentence encoder when the ``lm`` extra is installed, reranking when switched on.
    """

    def __init__(
        self,
        store: Store,
        model_dir: Path | str,
        *,
        catalog_ttl: float = 30.0,
        matcher: MatcherFactory = KeywordMatcher,
        blender: Blender = blend,
        explainer: Explainer | None = None,
        reranker: LMReranker | None = None,
        answer_cache: int = DEFAULT_CAPACITY,
    ) -> None:
        self.store = store
        self.versions = Versions(model_dir)
        self.catalog_ttl = catalog_ttl
        self.matcher_factory = matcher
        self.blender = blender
        self.explainer = explainer
        self.reranker = reranker
        self._view: ModelView | None = None
        self._view_lock = threading.Lock()
        self._catalog: CatalogIndex | None = None
        self._catalog_dirty = False
        self._catalog_lock = threading.Lock()
        self._refreshing = False
        self._catalog_mark: int | None = None  # hash of the rows the snapshot was built from
        self._catalog_checked = 0.0  # when the snapshot was last found current
        self._matcher: tuple[CatalogIndex, TextMatcher] | None = None
        self._matcher_lock = threading.Lock()
        self._compatible: tuple[CatalogIndex, dict[str, np.ndarray]] | None = None
        self.scorer = Scorer()
        self._active: tuple[tuple[int, int, int], str | None] | None = None
        self.item_rows = ItemRows(store)
        self.answers = AnswerCache(answer_cache)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        store: Store | None = None,
        encoder: TextEncoder | None = None,
        generator: TextGenerator | None = None,
    ) -> Engine:
        """The engine `settings` describe: their store (unless `store` is given) and model
        folder, search by ``search_mode`` (:func:`cartwise.search.matcher_from_settings`) and
        the reranking stage when ``rerank`` is on.

        Args:
            settings: the configuration.
            store: an open store to use instead of ``settings.store_url``.
            encoder: sentence encoder for search instead of ``settings.encoder_model``.
            generator: language model for reranking instead of ``settings.generator``.
        """
        store = store or Store.open(settings.store_url)
        return cls(
            store,
            settings.model_dir,
            catalog_ttl=settings.catalog_refresh_seconds,
            matcher=matcher_from_settings(settings, store, encoder=encoder),
            reranker=reranker_from_settings(settings, generator),
            answer_cache=settings.answer_cache_size,
        )

    # -- training and versions --------------------------------------------------------------
    def train(
        self,
        model_name: str,
        config: dict[str, Any] | None = None,
        *,
        rng: Rng = None,
        activate: bool = True,
    ) -> str:
        """Fit `model_name` on the store's current events; save and (by default) activate it.

        Returns the new version name.
        """
        model = model_class(model_name)(config)
        data = Dataset.from_store(self.store, kinds=model.input_kinds)
        started = time.perf_counter()
        model.fit(data, rng=rng)
        info = {
            "trained_at": datetime.now(UTC).isoformat(),
            "train_seconds": time.perf_counter() - started,
            "users": data.n_users,
            "items": data.n_items,
            "interactions": data.n_interactions,
        }
        version = self.versions.save(model, info)
        if activate:
            self.versions.activate(version)
        return version

    def active_version(self) -> str | None:
        """The active version's name, or None when nothing was trained yet.

        Every request asks; the ACTIVE file is only read again when it changed (activation
        replaces it with a new file, so its inode, time or size differ), from any process.
        """
        try:
            st = os.stat(self.versions.root / ACTIVE_FILE)
        except OSError:
            return self.versions.active()
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        known = self._active
        if known is not None and known[0] == key:
            return known[1]
        version = self.versions.active()
        self._active = (key, version)
        return version

    def model(self) -> Recommender:
        """The active model, loaded once per version (a newly activated one is picked up)."""
        return self.view().model

    def ready(self) -> bool:
        """Whether a model version is active and loads."""
        try:
            self.view()
        except ModelError:
            return False
        return True

    def view(self) -> ModelView:
        """The active model aligned with the current catalog.

        While one thread loads a newly activated version, other threads keep answering with
        the previous one, so a swap never blocks or fails requests.
        """
        version = self.active_version()
        if version is None:
            raise ModelError(
                f"no trained model in {self.versions.root}; run 'cartwise train' or 'cartwise demo'"
            )
        catalog = self.catalog()
        current = self._view
        if current is not None and current.version == version and current.catalog is catalog:
            return current
        swapping = current is not None and current.version != version
        if not self._view_lock.acquire(blocking=not swapping):
            assert current is not None
            return current
        try:
            current = self._view
            if current is None or current.version != version or current.catalog is not catalog:
                same = current is not None and current.version == version
                if same and current:
                    model = current.model
                else:
                    model = self.versions.load(version)
                    self._warm_up(model)
                current = ModelView.build(version, model, catalog)
                self._view = current
                _log.info("serving model version %s", version)
            return current
        finally:
            self._view_lock.release()

    def _warm_up(self, model: Recommender) -> None:
        """Score once before serving: first calls pay for lazy allocations and page-ins."""
        started = time.perf_counter()
        self.scorer.score_many(model, [Query.of([]), Query.of([1])])
        _log.info("warmed up the model in %.2fs", time.perf_counter() - started)

    # -- catalog snapshot -------------------------------------------------------------------
    def catalog(self) -> CatalogIndex:
        """The catalog snapshot: rebuilt now after :meth:`catalog_changed`, in the background
        when older than `catalog_ttl` and the item rows changed (any process may write them)."""
        current = self._catalog
        if current is None or self._catalog_dirty:
            with self._catalog_lock:
                if self._catalog is None or self._catalog_dirty:
                    self._catalog_dirty = False
                    self._catalog_mark = catalog_mark(self.store)
                    self._catalog = CatalogIndex.from_store(self.store)
                return self._catalog
        checked = max(current.built_at, self._catalog_checked)
        if time.monotonic() - checked > self.catalog_ttl and not self._refreshing:
            self._refreshing = True
            threading.Thread(target=self._refresh_catalog, daemon=True).start()
        return current

    def catalog_changed(self) -> None:
        """Items were written or deleted: the next request re-reads the catalog."""
        self._catalog_dirty = True

    def _refresh_catalog(self) -> None:
        """Re-read the catalog, unless its rows hash as they did when the snapshot was read:
        rebuilding 100,000 items takes seconds of CPU (and the model view is re-aligned
        after), checking them a fraction of that, every `catalog_ttl`."""
        try:
            mark = catalog_mark(self.store)  # before reading: a later change is seen next time
            if mark != self._catalog_mark:
                fresh = CatalogIndex.from_store(self.store)
                with self._catalog_lock:
                    self._catalog = fresh
                    self._catalog_mark = mark
            self._catalog_checked = time.monotonic()
        except Exception:  # a failed background refresh keeps the old snapshot
            _log.exception("catalog refresh failed; keeping the previous snapshot")
        finally:
            self._refreshing = False

    def search_ready(self) -> bool:
        """Whether a search matcher (the index of item text vectors) has been built."""
        return self._matcher is not None

    def matcher(self, catalog: CatalogIndex | None = None) -> TextMatcher:
        """The search matcher for `catalog` (default: the current one), built on first use."""
        catalog = catalog or self.catalog()
        built = self._matcher
        if built is not None and built[0] is catalog:
            return built[1]
        with self._matcher_lock:
            built = self._matcher
            if built is None or built[0] is not catalog:
                built = (catalog, self.matcher_factory(catalog))
                self._matcher = built
            return built[1]

    def compatible(self, catalog: CatalogIndex) -> dict[str, np.ndarray]:
        """Item id → catalog rows of the items made for it, read once per catalog snapshot."""
        built = self._compatible
        if built is None or built[0] is not catalog:
            built = (catalog, compatibility_index(self.store, catalog))
            self._compatible = built
        return built[1]

    # -- recommendations ----------------------------------------------------------------------
    def history(self, user_id: str, limit: int = 200) -> list[str]:
        """The shopper's latest item ids (positive events), oldest first."""
        return [item for item, _ in recent_items(self.store, user_id, limit)]

    def purchased(self, user_id: str) -> set[str]:
        """Ids of the items the shopper bought."""
        return purchased_items(self.store, user_id)

    def cold_scores(self) -> np.ndarray:
        """The active model's scores for an empty history."""
        return self.scorer.score(self.model(), Query.of([]))


def available_models() -> list[str]:
    """Names of the registered models."""
    return sorted(REGISTRY)
