"""Personalised lists: for a known shopper (their latest events read from the store at request
time) and for an anonymous session (events in the request).

The model's top-k is computed in one scoring pass (the history, the single-item histories that
give the reasons, and the empty history that breaks ties by popularity), checked on fresh item
rows, and kept in the answer cache under a key made of what was just read
(:mod:`cartwise.serving.cache`): a repeat skips the scoring, not the reads. Explanations, when
asked for, are added by :mod:`cartwise.serving.scenarios.explain`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cartwise.data.history import Touched, shopper_events
from cartwise.data.schema import EventKind
from cartwise.models.base import Query, Recommender
from cartwise.ranking.diversity import Diversity, HasItemVectors
from cartwise.ranking.filters import Filters, check_category
from cartwise.ranking.pipeline import pick
from cartwise.ranking.reasons import (
    COLD_START,
    Touch,
    evidence_queries,
    reasons_from_scores,
    recent_touches,
)
from cartwise.ranking.results import Recommendation, Served
from cartwise.ranking.ties import PopularityTies
from cartwise.serving.active import ModelView
from cartwise.serving.cache import Seen, history_digest
from cartwise.serving.context import Context
from cartwise.serving.scenarios.common import HISTORY_LIMIT, require_items, touches_of
from cartwise.serving.scenarios.explain import finish
from cartwise.serving.scenarios.indexed import indexed_list

#: Share of an item's buyers who bought it again, from which a purchase does not exclude it.
REPURCHASE_MIN = 0.2


def for_user(
    ctx: Context,
    user_id: str,
    k: int = 10,
    *,
    exclude_purchased: bool = True,
    filters: Filters | None = None,
    diversity: Diversity | None = None,
    explain: bool = False,
) -> Served:
    """Top-k for a shopper from their latest events; unknown shoppers get cold start. With
    `explain`, each item carries its evidence and sentence."""
    view = ctx.view()
    recent, exclude = shopper_events(ctx.store, user_id, HISTORY_LIMIT, purchases=exclude_purchased)
    served = cached_list(ctx, view, recent, exclude, k, filters, diversity)
    return finish(ctx, view, recent, served, user_id, explain=explain)


def for_session(
    ctx: Context,
    events: Sequence[tuple[str, str]],
    k: int = 10,
    *,
    exclude_purchased: bool = True,
    filters: Filters | None = None,
    diversity: Diversity | None = None,
    explain: bool = False,
) -> Served:
    """Top-k for an anonymous shopper from the (item_id, kind) events of their session."""
    view = ctx.view()
    require_items(ctx.store, [item for item, _ in events])
    read = set(view.read_kinds(ctx.store))
    recent: list[Touched] = [(i, kind, None) for i, kind in events if kind in read]
    recent = recent[-HISTORY_LIMIT:]
    bought = {i for i, kind in events if kind == EventKind.PURCHASE.value}
    exclude = not_again(view, bought) if exclude_purchased else set()
    served = cached_list(ctx, view, recent, exclude, k, filters, diversity)
    return finish(ctx, view, recent, served, explain=explain)


def cached_list(
    ctx: Context,
    view: ModelView,
    recent: Sequence[Touched],
    exclude: set[str],
    k: int,
    filters: Filters | None,
    diversity: Diversity | None,
) -> Served:
    """The model's top-k for a history of (item_id, kind, time) events, with template reasons:
    from the answer cache when nothing it depends on changed."""
    filters = filters or Filters()
    check_category(view.catalog, filters)
    key = ("personal", history_digest(recent, exclude), k, filters, diversity)

    def compute(seen: Seen) -> Served:
        touches = touches_of(view, recent)
        return model_list(ctx, view, touches, k, filters, diversity, exclude, seen)

    return ctx.answers.answer(view, key, ctx.rows, compute)


def model_list(
    ctx: Context,
    view: ModelView,
    touches: list[Touch],
    k: int,
    filters: Filters,
    diversity: Diversity | None,
    exclude: set[str],
    seen: Seen | None = None,
) -> Served:
    """Score the history, hide what may not be shown, pick `k` on fresh rows, add reasons
    (from the version's item index on a large catalog: :mod:`.indexed`)."""
    if touches and view.ann is not None:
        served = indexed_list(ctx, view, touches, k, filters, diversity, exclude, seen)
        if served is not None:
            return served
    model = view.model
    rows: np.ndarray | None = None
    if touches:  # one scoring pass: the history, the evidence for reasons, the empty history
        recent = recent_touches(touches)
        queries = [view.query(touches), *evidence_queries(recent, view.query)]
        rows = ctx.scorer.score_many(model, queries)
        scores = popularity_ties(view, rows[-1]).apply(rows[0], rows[-1])
    else:
        scores = ctx.scorer.score(model, Query.of([])).astype(np.float64)
    view.hide(scores, filters)
    for item_id in exclude:
        idx = view.index(item_id)
        if idx is not None:
            scores[idx] = -np.inf
    picks = pick(
        ctx.rows.fetch, scores, view.decode, k, filters, diversity, item_vectors(model), seen
    )
    chosen = [p.index for p in picks]
    if rows is not None:
        reasons = reasons_from_scores(rows[1:], recent_touches(touches), chosen)
    else:
        reasons = [COLD_START] * len(picks)
    items = [Recommendation(p.item, p.score, r) for p, r in zip(picks, reasons, strict=True)]
    return Served(view.version, items)


def not_again(view: ModelView, bought: set[str]) -> set[str]:
    """The purchased items not to recommend again: all of them, except those the shop's data
    shows shoppers buy again (consumables, refills: a repurchase rate of at least
    :data:`REPURCHASE_MIN` among their buyers, when the model learnt those rates)."""
    rates = getattr(view.model, "repurchase_", None)
    if rates is None:
        return bought
    again = {
        i for i in bought if (idx := view.index(i)) is not None and rates[idx] >= REPURCHASE_MIN
    }
    return bought - again


def item_vectors(model: Recommender) -> np.ndarray | None:
    """The model's item vectors when it exposes them (used by MMR), else None."""
    return model.item_vectors() if isinstance(model, HasItemVectors) else None


def popularity_ties(view: ModelView, cold: np.ndarray) -> PopularityTies:
    """The view's cold-start tie-break, prepared on first use (it checks the row it is given)."""
    ties: PopularityTies | None = view.memo.get("ties")
    if ties is None:
        ties = view.memo["ties"] = PopularityTies.of(cold)
    return ties
