"""How personalised lists are finished: the optional language-model reranking stage, reasons
phrased from their evidence, and the evidence itself (which past events drove each item).

:func:`finish` runs after every personalised list; with neither a reranker nor an explainer
configured it returns the model's list as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cartwise.data.history import Touched
from cartwise.ranking.explain import (
    Evidence,
    Explainer,
    Explanation,
    HasAttention,
    attention_evidence,
    history_evidence,
)
from cartwise.ranking.reasons import COLD_START, Touch, evidence_queries, recent_touches
from cartwise.ranking.results import Recommendation, Served
from cartwise.serving.active import ModelView
from cartwise.serving.context import Context
from cartwise.serving.scenarios.common import history, touches_of


def pool_size(ctx: Context, k: int) -> int:
    """Candidates to retrieve for a list of `k`: more when the reranker reorders them."""
    reranker = ctx.reranker
    return k if reranker is None else max(k, reranker.config.max_candidates)


def finish(
    ctx: Context,
    view: ModelView,
    recent: Sequence[Touched],
    served: Served,
    k: int,
    user_id: str | None = None,
) -> Served:
    """`served` (the model's list for the (item_id, kind, time) history `recent`) reordered by the
    reranker and phrased by the explainer, when they are configured."""
    if ctx.reranker is None and ctx.explainer is None:  # no later stage changes it
        return served
    touches = touches_of(view, recent)
    return phrased(ctx, view, touches, reranked(ctx, touches, served, k, user_id), user_id)


def reranked(
    ctx: Context, touches: list[Touch], served: Served, k: int, user_id: str | None = None
) -> Served:
    """The first `k` of `served` in the reranker's order (the model's order without one);
    each item's ``details["model_rank"]`` keeps its place in the model's list."""
    reranker = ctx.reranker
    if reranker is None:
        return served
    items = [
        replace(r, details={**r.details, "model_rank": float(n)})
        for n, r in enumerate(served.items, start=1)
    ]
    titles = [r.item.title or r.item.id for r in items]
    history = [t.title for t in touches]
    ids = [user_id] if user_id else []
    return Served(served.version, reranker.reorder(history, items, titles, k, user_ids=ids))


def phrased(
    ctx: Context,
    view: ModelView,
    touches: list[Touch],
    served: Served,
    user_id: str | None = None,
) -> Served:
    """`served` with reasons phrased by the explainer from history evidence, if one is set
    (the template reasons of :mod:`cartwise.ranking.reasons` otherwise)."""
    explainer = ctx.explainer
    if explainer is None or not touches or not served.items:
        return served
    ids = [user_id] if user_id else []
    items = [
        replace(r, reason=explainer.explain(r.item.title or r.item.id, r.item.brand, ev,
                                            user_ids=ids).reason)
        for r, ev in zip(served.items, evidence(ctx, view, touches, served), strict=True)
    ]  # fmt: skip
    return Served(served.version, items)


def evidence(
    ctx: Context, view: ModelView, touches: list[Touch], served: Served
) -> list[list[Evidence]]:
    """Per served item, the history events behind it: those the model's last position
    attends to most when it has attention (SASRec), else those whose single-item history
    lifts the item's score (:func:`cartwise.ranking.explain.history_evidence`)."""
    model = view.model
    if isinstance(model, HasAttention):
        history = [t.index for t in touches]
        weights = ctx.scorer.call(lambda: model.attention_weights(history))
        shared = attention_evidence(weights, touches, [_brand(view, t) for t in touches])
        return [shared for _ in served.items]
    recent = recent_touches(touches)
    indices = [view.index(r.item.id) for r in served.items]
    rows = ctx.scorer.score_many(model, evidence_queries(recent, view.query))
    chosen = [i if i is not None else 0 for i in indices]
    return history_evidence(rows, recent, chosen, [_brand(view, t) for t in recent])


def explain_user(
    ctx: Context, served: Served, user_id: str
) -> list[tuple[Recommendation, Explanation]]:
    """The items of `served` (the shopper's list) with the evidence behind each and its sentence
    (phrased by the context's explainer, else by template): the past events that drove it, with
    their weights (attention shares for SASRec, score lifts otherwise)."""
    view = ctx.view()
    touches = touches_of(view, history(ctx, view, user_id))
    explainer = ctx.explainer or Explainer()
    if not touches:
        found = [[Evidence("popular", COLD_START)] for _ in served.items]
    else:
        found = evidence(ctx, view, touches, served)
    ids = [user_id]
    return [
        (r, explainer.explain(r.item.title or r.item.id, r.item.brand, ev, user_ids=ids))
        for r, ev in zip(served.items, found, strict=True)
    ]


def _brand(view: ModelView, touch: Touch) -> str | None:
    row = int(view.rows[touch.index])
    return (view.catalog.fields["brand"][row] or None) if row >= 0 else None
