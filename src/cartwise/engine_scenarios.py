"""The Engine's recommendation scenarios: for a shopper, for an anonymous session, similar
items and bought together (search and sponsored ranking are in :mod:`cartwise.engine_search`).

Mixed into :class:`cartwise.engine.Engine`, which provides the store, the active model view
(model + catalog snapshot), the search matcher and the purchased-items lookup. Every scenario
reads what it needs from the store at request time and checks the final items on fresh rows.
Personalised lists and similar items are kept in the engine's answer cache, under a key made of
what was just read (:mod:`cartwise.ranking.answers`): a repeat skips the scoring, not the reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from cartwise.data.schema import POSITIVE_KINDS, EventKind, Item
from cartwise.data.store import Store
from cartwise.engine_explain import Phrasing
from cartwise.errors import ModelError, NotFoundError
from cartwise.models.base import Query, Recommender
from cartwise.ranking.answers import AnswerCache, Seen, history_digest
from cartwise.ranking.catalog import CatalogIndex, ItemRows, fetch_items
from cartwise.ranking.complements import co_purchases
from cartwise.ranking.diversity import Diversity, HasItemVectors
from cartwise.ranking.explain import Explainer
from cartwise.ranking.filters import Filters, rejection
from cartwise.ranking.history import recent_items, shopper_events
from cartwise.ranking.pipeline import pick
from cartwise.ranking.reasons import (
    COLD_START,
    POPULAR,
    Touch,
    evidence_queries,
    reasons_from_scores,
    recent_touches,
)
from cartwise.ranking.rerank import LMReranker
from cartwise.ranking.scorer import Scorer
from cartwise.ranking.served import ModelView, Recommendation, Served
from cartwise.ranking.ties import PopularityTies
from cartwise.search import (
    Blender,
    TextMatcher,
)

#: Most recent positive events read per request: the history the models see.
HISTORY_LIMIT = 200
_POSITIVE = {k.value for k in POSITIVE_KINDS}
_SIMILAR_POOL = 500


def item_vectors(model: Recommender) -> np.ndarray | None:
    """The model's item vectors when it exposes them (used by MMR), else None."""
    return model.item_vectors() if isinstance(model, HasItemVectors) else None


class Scenarios(Phrasing):
    """Recommendation scenarios over the attributes and methods the Engine provides."""

    if TYPE_CHECKING:
        store: Store
        item_rows: ItemRows
        blender: Blender
        scorer: Scorer
        explainer: Explainer | None
        reranker: LMReranker | None
        answers: AnswerCache

        def view(self) -> ModelView: ...
        def catalog(self) -> CatalogIndex: ...
        def matcher(self, catalog: CatalogIndex | None = None) -> TextMatcher: ...
        def compatible(self, catalog: CatalogIndex) -> dict[str, np.ndarray]: ...
        def purchased(self, user_id: str) -> set[str]: ...
        def active_version(self) -> str | None: ...

    # -- histories ----------------------------------------------------------------------------
    def touches(self, view: ModelView, user_id: str) -> list[Touch]:
        """The shopper's latest positive events the model knows, oldest first."""
        return touches_of(view, recent_items(self.store, user_id, HISTORY_LIMIT))

    # -- personalised lists -------------------------------------------------------------------
    def recommend_user(
        self,
        user_id: str,
        k: int = 10,
        *,
        exclude_purchased: bool = True,
        filters: Filters | None = None,
        diversity: Diversity | None = None,
    ) -> Served:
        """Top-k for a shopper from their latest events; unknown shoppers get cold start."""
        view = self.view()
        recent, exclude = shopper_events(
            self.store, user_id, HISTORY_LIMIT, purchases=exclude_purchased
        )
        filters = filters or Filters()
        served = self._personal(view, recent, exclude, self._pool(k), filters, diversity)
        if self.reranker is None and self.explainer is None:  # no later stage changes it
            return served
        touches = touches_of(view, recent)
        return self._phrased(view, touches, self._reranked(touches, served, k, user_id), user_id)

    def recommend_session(
        self,
        events: Sequence[tuple[str, str]],
        k: int = 10,
        *,
        exclude_purchased: bool = True,
        filters: Filters | None = None,
        diversity: Diversity | None = None,
    ) -> Served:
        """Top-k for an anonymous shopper from the (item_id, kind) events of their session."""
        view = self.view()
        require_items(self.store, [item for item, _ in events])
        positive = [(item, kind) for item, kind in events if kind in _POSITIVE]
        bought = {i for i, kind in events if kind == EventKind.PURCHASE.value}
        exclude = bought if exclude_purchased else set()
        recent = positive[-HISTORY_LIMIT:]
        filters = filters or Filters()
        served = self._personal(view, recent, exclude, self._pool(k), filters, diversity)
        if self.reranker is None and self.explainer is None:
            return served
        touches = touches_of(view, recent)
        return self._phrased(view, touches, self._reranked(touches, served, k))

    def _personal(
        self,
        view: ModelView,
        recent: Sequence[tuple[str, str]],
        exclude: set[str],
        k: int,
        filters: Filters,
        diversity: Diversity | None,
    ) -> Served:
        """The model's top-k for a history of (item_id, kind) pairs, with template reasons:
        from the answer cache when nothing it depends on changed."""
        key = ("personal", history_digest(recent, exclude), k, filters, diversity)
        return self.answers.answer(
            view,
            key,
            self.item_rows,
            lambda seen: _personal(
                self.item_rows,
                self.scorer,
                view,
                touches_of(view, recent),
                k,
                filters,
                diversity,
                exclude,
                seen,
            ),
        )

    # -- item pages ---------------------------------------------------------------------------
    def similar(self, item_id: str, k: int = 10, *, filters: Filters | None = None) -> Served:
        """Items like `item_id` (NotFoundError when it is not in the catalog)."""
        anchor = self.store.get_item(item_id)
        view = self.view()
        filters = filters or Filters()
        # what the answer reads of the anchor's row is part of the key
        key = ("similar", item_id, anchor.title, tuple(anchor.category), k, filters)
        return self.answers.answer(
            view, key, self.item_rows, lambda seen: self._similar(view, anchor, k, filters, seen)
        )

    def _similar(
        self, view: ModelView, anchor: Item, k: int, filters: Filters, seen: Seen
    ) -> Served:
        idx = view.index(anchor.id)
        title = anchor.title or anchor.id
        scores = np.full(len(view.rows), -np.inf)
        if idx is None:  # new item: popular items of its own leaf category
            leaf = anchor.category[-1] if anchor.category else None
            filters = Filters(leaf, filters.min_price, filters.max_price, filters.item_type)
            scores = self.scorer.score(view.model, Query.of([])).astype(np.float64)
            reason = f"popular in {leaf}" if leaf else POPULAR
            reasons: list[str] | None = None
        else:
            try:
                pool = min(_SIMILAR_POOL, view.model.n_items)
                model, anchor_idx = view.model, idx
                for s in self.scorer.call(lambda: model.similar_items(anchor_idx, k=pool)):
                    scores[s.item] = s.score
                reason, reasons = f"similar to '{title}'", None
            except ModelError:  # no item-to-item notion: score the item as a one-item history
                scores = self.scorer.score(view.model, Query.of([idx])).astype(np.float64)
                scores[idx] = -np.inf
                reason, reasons = "", []
        view.hide(scores, filters)
        picks = pick(self.item_rows, scores, view.decode, k, filters, seen=seen)
        if reasons is not None and idx is not None:
            touch = [Touch(idx, "view", title)]
            rows = self.scorer.score_many(view.model, evidence_queries(touch))
            evidence = reasons_from_scores(rows, touch, [p.index for p in picks])
            reasons = [
                POPULAR if r == POPULAR else f"shoppers who liked '{title}' also liked this"
                for r in evidence
            ]
        out = [
            Recommendation(p.item, p.score, reasons[n] if reasons else reason)
            for n, p in enumerate(picks)
        ]
        return Served(view.version, out)

    def complements(
        self,
        item_id: str,
        k: int = 10,
        *,
        window_days: float = 30.0,
        min_support: int = 2,
        filters: Filters | None = None,
    ) -> Served:
        """Items bought together with `item_id`, by lift (no model needed)."""
        anchor = self.store.get_item(item_id)
        found = co_purchases(
            self.store,
            item_id,
            window_days=window_days,
            min_support=min_support,
            limit=max(200, 10 * k),
        )
        fresh = fetch_items(self.store, [c.item_id for c in found])
        out: list[Recommendation] = []
        for c in found:
            item = fresh.get(c.item_id)
            if item is None or rejection(item, filters or Filters()) is not None:
                continue
            reason = (
                f"{c.together} of {c.anchor_buyers} shoppers who bought "
                f"'{anchor.title or anchor.id}' bought this within {window_days:g} days "
                f"(lift {c.lift:.1f})"
            )
            details = {"together": c.together, "lift": c.lift, "item_buyers": c.item_buyers}
            out.append(Recommendation(item, c.lift, reason, details))
            if len(out) == k:
                break
        return Served(self.active_version(), out)


def touches_of(view: ModelView, pairs: Sequence[tuple[str, str]]) -> list[Touch]:
    titles = view.catalog.fields["title"]
    out = []
    for item_id, kind in pairs:
        idx = view.index(item_id)
        if idx is None:
            continue
        row = int(view.rows[idx])
        out.append(Touch(idx, kind, (titles[row] if row >= 0 else "") or item_id))
    return out


def _personal(
    store: ItemRows,
    scorer: Scorer,
    view: ModelView,
    touches: list[Touch],
    k: int,
    filters: Filters,
    diversity: Diversity | None,
    exclude: set[str],
    seen: Seen | None = None,
) -> Served:
    model = view.model
    if touches:  # one scoring pass: the history, the evidence for reasons, the empty history
        recent = recent_touches(touches)
        queries = [Query.of([t.index for t in touches]), *evidence_queries(recent)]
        rows = scorer.score_many(model, queries)
        scores = _popularity_ties(view, rows[-1]).apply(rows[0], rows[-1])
    else:
        scores = scorer.score(model, Query.of([])).astype(np.float64)
    view.hide(scores, filters)
    for item_id in exclude:
        idx = view.index(item_id)
        if idx is not None:
            scores[idx] = -np.inf
    picks = pick(store, scores, view.decode, k, filters, diversity, item_vectors(model), seen)
    chosen = [p.index for p in picks]
    reasons = reasons_from_scores(rows[1:], recent, chosen) if touches else [COLD_START] * k
    items = [Recommendation(p.item, p.score, r) for p, r in zip(picks, reasons, strict=False)]
    return Served(view.version, items)


def _popularity_ties(view: ModelView, cold: np.ndarray) -> PopularityTies:
    """The view's cold-start tie-break, prepared on first use (it checks the row it is given)."""
    ties: PopularityTies | None = view.memo.get("ties")
    if ties is None:
        ties = view.memo["ties"] = PopularityTies.of(cold)
    return ties


def require_items(store: Store, ids: Sequence[str]) -> dict[str, Item]:
    fresh = fetch_items(store, ids)
    missing = [i for i in dict.fromkeys(ids) if i not in fresh]
    if missing:
        shown = ", ".join(f"'{m}'" for m in missing[:5])
        raise NotFoundError(f"unknown item {shown}; add it with PUT /items first")
    return fresh
