"""How personalised lists are finished: when a request asks for them, with explanations: the
evidence behind each item (which past events drove it, with attention weights or score lifts)
and a sentence phrased from it (:mod:`cartwise.serving.phrasing`: the generator within the
request's budget, else a template).

:func:`finish` runs after every personalised list; with no explanation asked for it returns
the model's list as it is. (A language-model reranking stage was measured and removed: see
``benchmarks/rerank_lm.py``.)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import replace

from cartwise.data.history import Touched
from cartwise.ranking.explain import (
    Evidence,
    Explainer,
    HasAttention,
    attention_evidence,
    history_evidence,
)
from cartwise.ranking.reasons import COLD_START, Touch, evidence_queries, recent_touches
from cartwise.ranking.results import Served
from cartwise.serving.active import ModelView
from cartwise.serving.cache import history_digest
from cartwise.serving.context import Context
from cartwise.serving.scenarios.common import touches_of


def finish(
    ctx: Context,
    view: ModelView,
    recent: Sequence[Touched],
    served: Served,
    user_id: str | None = None,
    *,
    explain: bool = False,
) -> Served:
    """`served` (the model's list for the (item_id, kind, time) history `recent`) with
    explanations when asked for."""
    if not explain or not served.items:
        return served
    touches = touches_of(view, recent)
    found = evidence(ctx, view, touches, served) if touches else _popular(served)
    digest = history_digest(recent)
    keys = [(view.version, digest, r.item.id) for r in served.items]
    return with_explanations(ctx, served, keys, found, user_id)


def with_explanations(
    ctx: Context,
    served: Served,
    keys: Sequence[Hashable],
    found: Sequence[Sequence[Evidence]],
    user_id: str | None,
) -> Served:
    """`served` with each item's explanation (its evidence and sentence) and the sentence as
    its reason: phrased by the generator when it finishes within the request's budget (the
    phraser keeps it for the next request), else by template."""
    items = [(r.item.title or r.item.id, r.item.brand or None, ev)
             for r, ev in zip(served.items, found, strict=True)]  # fmt: skip
    ids = [user_id] if user_id else []
    if ctx.phraser is not None:
        names = ctx.names.get(ctx.snapshot())
        done = ctx.phraser.explain_many(keys, items, budget=ctx.explain_budget, user_ids=ids,
                                        known_names=names)  # fmt: skip
    else:
        explainer = ctx.explainer or Explainer()
        done = [explainer.explain(t, b, ev, user_ids=ids) for t, b, ev in items]
    pairs = zip(served.items, done, strict=True)
    items_out = [replace(r, reason=e.reason, explanation=e) for r, e in pairs]
    return Served(served.version, items_out, served.message)


def _popular(served: Served) -> list[list[Evidence]]:
    return [[Evidence("popular", COLD_START)] for _ in served.items]


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


def _brand(view: ModelView, touch: Touch) -> str | None:
    row = int(view.rows[touch.index])
    return (view.catalog.fields["brand"][row] or None) if row >= 0 else None
