"""Engine: the one object the CLI and the service call.

A thin facade over its parts (:class:`~cartwise.serving.context.Context`): the active model
version (:mod:`~cartwise.serving.active`), the catalog snapshot and what is built from it
(:mod:`~cartwise.serving.catalog`), the scoring thread (:mod:`~cartwise.serving.scorer`) and the
answer cache (:mod:`~cartwise.serving.cache`). Each request is answered by a scenario function
(:mod:`cartwise.serving.scenarios`) that reads the shopper's *latest* events from the store (so
a click counts without retraining) and applies the business rules.

Nothing is held in module globals: several engines (or processes) can share one store and
model folder. An engine is safe to share between threads; activating another version swaps the
model between requests without failing any.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cartwise.config import model_root
from cartwise.data.catalog import CatalogIndex, ItemRows, compatibility_index
from cartwise.data.store import Store
from cartwise.errors import ModelError
from cartwise.lifecycle import HOLDOUT, Holdout, Versions, train_on_store
from cartwise.models.base import Query, Recommender, Rng
from cartwise.ranking.ann import AnnPolicy
from cartwise.ranking.diversity import Diversity
from cartwise.ranking.explain import Explainer, Explanation
from cartwise.ranking.filters import Filters
from cartwise.ranking.results import AdRanking, Recommendation, Served
from cartwise.search import Blender, KeywordMatcher, MatcherFactory, blend, matcher_from_settings
from cartwise.serving.active import ActiveModel, ModelView
from cartwise.serving.cache import DEFAULT_CAPACITY, AnswerCache
from cartwise.serving.catalog import CatalogSnapshot, PerCatalog
from cartwise.serving.context import Context
from cartwise.serving.experiments import Assignment, Routing
from cartwise.serving.privacy import Deletion, forget_shopper
from cartwise.serving.scenarios import ads, items, personal, search
from cartwise.serving.scorer import Scorer
from cartwise.serving.states import DEFAULT_BYTES
from cartwise.text.factory import make_generator

if TYPE_CHECKING:
    from cartwise.config import Settings
    from cartwise.text.encoder import TextEncoder
    from cartwise.text.generator import TextGenerator


class Engine:
    """Store + active model + business rules.

    Args:
        store: the shop's data.
        model_dir: folder of saved model versions, or an fsspec URL of them (``s3://...``).
        catalog_ttl: seconds after which the catalog rows are hashed again in the background
            (writes through :meth:`catalog_changed` take effect at once).
        sync_seconds: how often what other replicas change is checked: the catalog's stamp
            and, for a model URL, the ACTIVE version.
        model_cache: for a model URL, the local folder of downloaded versions.
        matcher: builds the search text matcher from a catalog snapshot.
        blender: mixes search relevance with the shopper's model scores.
        explainer: phrases reasons from their evidence (None: template reasons).
        answer_cache: most finished answers kept (0: off; see :mod:`cartwise.serving.cache`).
        score_cache_bytes: bytes of model score rows kept per loaded model (0: off; see
            :mod:`cartwise.serving.states`).
        ann: when a large catalog is served through a faiss index over the item vectors
            (:mod:`cartwise.ranking.ann`; default: from 50,000 items at D = 64).
    """

    def __init__(
        self,
        store: Store,
        model_dir: Path | str,
        *,
        catalog_ttl: float = 30.0,
        sync_seconds: float = 1.0,
        model_cache: Path | None = None,
        matcher: MatcherFactory = KeywordMatcher,
        blender: Blender = blend,
        explainer: Explainer | None = None,
        answer_cache: int = DEFAULT_CAPACITY,
        score_cache_bytes: int = DEFAULT_BYTES,
        ann: AnnPolicy | None = None,
    ) -> None:
        self.store = store
        self.versions = Versions(model_dir, cache=model_cache)
        self.scorer = Scorer(cache_bytes=score_cache_bytes)
        self.ctx = Context(
            store=store,
            rows=ItemRows(store),
            scorer=self.scorer,
            answers=AnswerCache(answer_cache),
            active=ActiveModel(self.versions, self._warm_up, poll_seconds=sync_seconds, ann=ann),
            catalog=CatalogSnapshot(store, catalog_ttl, sync_seconds),
            matchers=PerCatalog(matcher),
            compatible=PerCatalog(lambda catalog: compatibility_index(store, catalog)),
            blender=blender,
        )
        self.ctx.use_explainer(explainer)
        self.routing = Routing(self.ctx, self.versions)

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
        folder, search by ``search_mode`` (:func:`cartwise.search.matcher_from_settings`),
        explanations phrased by the configured generator (``generator``; within
        ``explain_budget_ms``) (`encoder`, `generator`: use these models instead of the
        configured ones)."""
        store = store or Store.open(settings.store_url)
        generator = generator or make_generator(settings)
        engine = cls(
            store,
            model_root(settings),
            catalog_ttl=settings.catalog_refresh_seconds,
            sync_seconds=settings.sync_seconds,
            model_cache=settings.model_cache_dir,
            matcher=matcher_from_settings(settings, store, encoder=encoder),
            explainer=Explainer(generator) if generator is not None else None,
            answer_cache=settings.answer_cache_size,
            score_cache_bytes=settings.score_cache_mb << 20,
            ann=AnnPolicy(settings.ann_threshold, settings.ann_index),
        )
        engine.ctx.explain_budget = settings.explain_budget_ms / 1000.0
        return engine

    # -- parts ---------------------------------------------------------------------------------
    @property
    def answers(self) -> AnswerCache:
        """The answer cache (its hit counts feed /metrics)."""
        return self.ctx.answers

    @property
    def explainer(self) -> Explainer | None:
        """The stage that phrases reasons (None: template reasons)."""
        return self.ctx.explainer

    @explainer.setter
    def explainer(self, value: Explainer | None) -> None:
        self.ctx.use_explainer(value)

    def active_version(self) -> str | None:
        """The active version's name, or None when nothing was trained yet."""
        return self.ctx.active.version()

    def view(self) -> ModelView:
        """The active model aligned with the current catalog (ModelError when none)."""
        return self.ctx.view()

    def ready(self) -> bool:
        """Whether a model version is active and loads."""
        return self.ctx.view_or_none() is not None

    def catalog(self) -> CatalogIndex:
        """The current catalog snapshot."""
        return self.ctx.snapshot()

    def catalog_changed(self) -> None:
        """Items were written or deleted: the next request re-reads the catalog."""
        self.ctx.catalog.changed()

    def search_ready(self) -> bool:
        """Whether the search matcher (the index of item text vectors) has been built."""
        return self.ctx.matchers.ready

    def build_search_index(self) -> None:
        """Build the search matcher for the current catalog now (the service does it in the
        background at start, so the first search does not pay for it)."""
        self.ctx.matchers.get(self.catalog())

    def _warm_up(self, model: Recommender) -> None:
        """Score once before serving: first calls pay for lazy allocations and page-ins."""
        self.scorer.score_many(model, [Query.of([]), Query.of([1])])

    def train(
        self, model_name: str, config: dict[str, Any] | None = None, *, rng: Rng = None,
        activate: bool = True, holdout: Holdout | None = HOLDOUT, progress: bool = False,
    ) -> str:  # fmt: skip
        """Fit `model_name` on the store's events (:func:`cartwise.lifecycle.train_on_store`;
        `holdout` None: no validation); save it and by default activate it. Returns the new
        version's name."""
        return train_on_store(self.store, self.versions, model_name, config, rng=rng,
                              holdout=holdout, activate=activate, progress=progress)  # fmt: skip

    def delete_user(self, user_id: str) -> Deletion:
        """Forget a shopper: every row about them (a receipt is kept), and the saved model
        versions marked as containing a deleted shopper (:mod:`cartwise.serving.privacy`)."""
        return forget_shopper(self.store, self.versions, user_id)

    # -- scenarios -----------------------------------------------------------------------------
    def _routed(
        self, scenario: str, unit_id: str | None, diversity: Diversity | None,
        serve: Callable[[Context, Diversity | None], Served],
    ) -> Served:  # fmt: skip
        """``serve`` in the context of the experiment variant `unit_id` is assigned to (the
        engine's own outside experiments); the answer names the variant."""
        assigned = self.routing.assign(scenario, unit_id)
        if assigned is None:
            return serve(self.ctx, diversity)
        served = serve(assigned.ctx, _variant_diversity(assigned, diversity))
        return replace(served, variant=assigned.key)

    def recommend_user(
        self, user_id: str, k: int = 10, *, exclude_purchased: bool = True,
        filters: Filters | None = None, diversity: Diversity | None = None,
        explain: bool = False,
    ) -> Served:  # fmt: skip
        """Top-k for a shopper from their latest events (cold start for an unknown one); with
        `explain`, each item's evidence and sentence. Inside a running experiment, answered
        by the shopper's variant."""
        return self._routed("user", user_id, diversity, lambda ctx, div: personal.for_user(
            ctx, user_id, k, exclude_purchased=exclude_purchased, filters=filters,
            diversity=div, explain=explain))  # fmt: skip

    def recommend_session(
        self, events: Sequence[tuple[str, str]], k: int = 10, *, exclude_purchased: bool = True,
        filters: Filters | None = None, diversity: Diversity | None = None,
        explain: bool = False, session_id: str | None = None,
    ) -> Served:  # fmt: skip
        """Top-k for an anonymous shopper from the (item_id, kind) events of their session;
        with `session_id`, inside a running experiment, answered by the session's variant."""
        return self._routed("session", session_id, diversity, lambda ctx, div: (
            personal.for_session(ctx, events, k, exclude_purchased=exclude_purchased,
                                 filters=filters, diversity=div, explain=explain)))  # fmt: skip

    def similar(
        self, item_id: str, k: int = 10, *, filters: Filters | None = None, explain: bool = False
    ) -> Served:
        """Items like `item_id`."""
        return items.similar(self.ctx, item_id, k, filters=filters, explain=explain)

    def complements(
        self, item_id: str, k: int = 10, *, window_days: float = 30.0, min_support: int = 2,
        filters: Filters | None = None,
    ) -> Served:  # fmt: skip
        """Items bought with `item_id`, completed from declared compatibility."""
        return items.complements(self.ctx, item_id, k, window_days=window_days,
                                 min_support=min_support, filters=filters)  # fmt: skip

    def search(
        self, query: str, k: int = 10, *, user_id: str | None = None,
        personalization: float = 0.3, filters: Filters | None = None, explain: bool = False,
    ) -> Served:  # fmt: skip
        """Catalog items matching `query`, personalised for `user_id` when given (inside a
        running experiment, by the shopper's variant: its model and ``personalization``)."""
        assigned = self.routing.assign("search", user_id)
        if assigned is None:
            return search.search(self.ctx, query, k, user_id=user_id, explain=explain,
                                 personalization=personalization, filters=filters)  # fmt: skip
        weight = float(assigned.setting("personalization", personalization))
        served = search.search(assigned.ctx, query, k, user_id=user_id, explain=explain,
                               personalization=weight, filters=filters)  # fmt: skip
        return replace(served, variant=assigned.key)

    def rank_ads(
        self, user_id: str, candidates: Sequence[tuple[str, float]], k: int = 3, *,
        relevance_floor: float = 0.5, temperature: float = 1.0,
    ) -> AdRanking:  # fmt: skip
        """Sponsored (item_id, bid) candidates ranked for a shopper by engagement × bid."""
        return ads.rank_ads(self.ctx, user_id, candidates, k, relevance_floor=relevance_floor,
                            temperature=temperature)  # fmt: skip

    def explain_user(self, user_id: str, k: int = 10) -> list[tuple[Recommendation, Explanation]]:
        """The shopper's top-k, each with the evidence behind it and its sentence."""
        served = self.recommend_user(user_id, k, explain=True)
        return [(r, r.explanation) for r in served.items if r.explanation is not None]


def _variant_diversity(assigned: Assignment, asked: Diversity | None) -> Diversity | None:
    """The request's diversity with the variant's settings over it."""
    names = ("diversity", "mmr_lambda", "max_per_category")
    if not any(n in assigned.variant.settings for n in names):
        return asked
    base = asked or Diversity()
    return Diversity(
        assigned.setting("diversity", base.method),
        float(assigned.setting("mmr_lambda", base.mmr_lambda)),
        int(assigned.setting("max_per_category", base.max_per_category)),
    )


__all__ = ["Engine", "ModelError"]
