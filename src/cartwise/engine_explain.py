"""How the Engine's personalised lists are reordered and explained: the optional language-model
reranking stage, and the evidence (past events, with weights) behind each recommended item.

Mixed into :class:`cartwise.engine_scenarios.Scenarios`, which calls :meth:`Phrasing._pool`,
:meth:`Phrasing._reranked` and :meth:`Phrasing._phrased` on every personalised list.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from cartwise.ranking.explain import (
    Evidence,
    Explainer,
    Explanation,
    HasAttention,
    attention_evidence,
    history_evidence,
)
from cartwise.ranking.reasons import COLD_START, Touch, evidence_queries, recent_touches
from cartwise.ranking.rerank import LMReranker
from cartwise.ranking.scorer import Scorer
from cartwise.ranking.served import ModelView, Recommendation, Served


class Phrasing:
    """Reranking and explanations over the attributes and methods the Engine provides."""

    if TYPE_CHECKING:
        scorer: Scorer
        explainer: Explainer | None
        reranker: LMReranker | None

        def view(self) -> ModelView: ...
        def touches(self, view: ModelView, user_id: str) -> list[Touch]: ...
        def recommend_user(self, user_id: str, k: int = 10) -> Served: ...

    def _pool(self, k: int) -> int:
        """Candidates to retrieve for a list of `k`: more when the reranker reorders them."""
        reranker = self.reranker
        return k if reranker is None else max(k, reranker.config.max_candidates)

    def _reranked(
        self, touches: list[Touch], served: Served, k: int, user_id: str | None = None
    ) -> Served:
        """The first `k` of `served` in the reranker's order (the model's order without one);
        each item's ``details["model_rank"]`` keeps its place in the model's list."""
        reranker = self.reranker
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

    def _phrased(
        self, view: ModelView, touches: list[Touch], served: Served, user_id: str | None = None
    ) -> Served:
        """`served` with reasons phrased by the explainer from history evidence, if one is set
        (the template reasons of :mod:`cartwise.ranking.reasons` otherwise)."""
        explainer = self.explainer
        if explainer is None or not touches or not served.items:
            return served
        ids = [user_id] if user_id else []
        items = [
            replace(
                r,
                reason=explainer.explain(
                    r.item.title or r.item.id, r.item.brand, ev, user_ids=ids
                ).reason,
            )
            for r, ev in zip(served.items, self._evidence(view, touches, served), strict=True)
        ]
        return Served(served.version, items)

    def _evidence(
        self, view: ModelView, touches: list[Touch], served: Served
    ) -> list[list[Evidence]]:
        """Per served item, the history events behind it: those the model's last position
        attends to most when it has attention (SASRec), else those whose single-item history
        lifts the item's score (:func:`cartwise.ranking.explain.history_evidence`)."""
        model = view.model
        if isinstance(model, HasAttention):
            history = [t.index for t in touches]
            weights = self.scorer.call(lambda: model.attention_weights(history))
            shared = attention_evidence(weights, touches, [_brand(view, t) for t in touches])
            return [shared for _ in served.items]
        recent = recent_touches(touches)
        indices = [view.index(r.item.id) for r in served.items]
        rows = self.scorer.score_many(model, evidence_queries(recent))
        chosen = [i if i is not None else 0 for i in indices]
        return history_evidence(rows, recent, chosen, [_brand(view, t) for t in recent])

    def explain_user(self, user_id: str, k: int = 10) -> list[tuple[Recommendation, Explanation]]:
        """The shopper's top-k with the evidence behind each item and its sentence (phrased by
        the engine's explainer, else by template): the past events that drove it, with their
        weights (attention shares for SASRec, score lifts otherwise)."""
        served = self.recommend_user(user_id, k)
        view = self.view()
        touches = self.touches(view, user_id)
        explainer = self.explainer or Explainer()
        if not touches:
            evidence = [[Evidence("popular", COLD_START)] for _ in served.items]
        else:
            evidence = self._evidence(view, touches, served)
        ids = [user_id]
        return [
            (r, explainer.explain(r.item.title or r.item.id, r.item.brand, ev, user_ids=ids))
            for r, ev in zip(served.items, evidence, strict=True)
        ]


def _brand(view: ModelView, touch: Touch) -> str | None:
    row = int(view.rows[touch.index])
    return (view.catalog.fields["brand"][row] or None) if row >= 0 else None
