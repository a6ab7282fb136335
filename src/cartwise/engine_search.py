"""The Engine's scenarios where the caller says what to rank: free-text search (a query over
the catalog, blended with the shopper's taste) and sponsored slots (given candidates with bids).

Mixed into :class:`cartwise.engine.Engine` on top of :class:`Scenarios`, whose histories and
model view they share.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cartwise.engine_scenarios import HISTORY_LIMIT, Scenarios, require_items, touches_of
from cartwise.errors import InputError, ModelError
from cartwise.models.base import Query
from cartwise.ranking.ads import engagement_probabilities, rank_candidates, relevance_of
from cartwise.ranking.explain import Evidence, text_match_evidence
from cartwise.ranking.filters import Filters, catalog_mask
from cartwise.ranking.history import recent_items
from cartwise.ranking.pipeline import pick
from cartwise.ranking.served import AdChoice, AdRanking, ModelView, Recommendation, Served
from cartwise.search import SearchWeights, owned_item, parse_query, rank, tokens


class Searching(Scenarios):
    """Search and sponsored ranking over the Engine's store and active model."""

    # -- search -------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 10,
        *,
        user_id: str | None = None,
        personalization: float = 0.3,
        filters: Filters | None = None,
    ) -> Served:
        """Catalog items matching `query` under the constraints it states ("under $50"),
        blended with the shopper's model scores if known; items made for the item the query
        refers to ("a case for my new phone") come first (see :func:`cartwise.search.rank`)."""
        if not tokens(query):
            raise InputError(f"query '{query}' has no words to search for", field="query")
        filters = filters or Filters()
        view = _view_or_none(self) if user_id else None
        catalog = view.catalog if view is not None else self.catalog()
        matcher = self.matcher(catalog)
        parsed = parse_query(query, catalog)
        history = recent_items(self.store, user_id, HISTORY_LIMIT) if user_id else []
        personal = None
        if view is not None and personalization > 0:
            touches = touches_of(view, history)
            if touches:
                scores = self.scorer.score(view.model, Query.of([t.index for t in touches]))
                personal = np.full(catalog.size, -np.inf)
                known = view.rows >= 0
                personal[view.rows[known]] = scores[known]
        owned = owned_item(parsed.refers_to, history, catalog) if parsed.refers_to else None
        ranking = rank(
            parsed,
            matcher,
            catalog,
            allowed=catalog_mask(catalog, filters),
            personal=personal,
            owned=owned,
            compatible=self.compatible(catalog) if owned else None,
            weights=SearchWeights(personal=personalization),
            blender=self.blender,
        )
        ids = catalog.ids
        picks = pick(self.store, ranking.scores, lambda rows: [ids[r] for r in rows], k, filters)
        suffix = "; ranked for you from your history" if personal is not None else ""
        owned_title = catalog.fields["title"][catalog.position[owned]] if owned else ""
        out = []
        for p in picks:
            match = matcher.explain(parsed.text, p.index)
            fits = bool(ranking.fits[p.index]) and owned is not None
            reason = match + (f"; made for your '{owned_title}'" if fits else "") + suffix
            if self.explainer is not None:
                evidence = [text_match_evidence(match, ranking.relevance[p.index], query)]
                if fits:
                    evidence.append(
                        Evidence("history", f"it is made for your '{owned_title}'", owned_title)
                    )
                shopper = [user_id] if user_id else []
                title = p.item.title or p.item.id
                reason = self.explainer.explain(
                    title, p.item.brand, evidence, user_ids=shopper
                ).reason
            relevance = {"relevance": float(ranking.relevance[p.index])}
            out.append(Recommendation(p.item, p.score, reason, relevance))
        return Served(view.version if personal is not None and view else None, out)

    # -- sponsored ----------------------------------------------------------------------------
    def rank_ads(
        self,
        user_id: str,
        candidates: Sequence[tuple[str, float]],
        k: int = 3,
        *,
        relevance_floor: float = 0.5,
        temperature: float = 1.0,
    ) -> AdRanking:
        """Rank sponsored (item_id, bid) candidates for a shopper by engagement × bid."""
        ids = [c[0] for c in candidates]
        if len(set(ids)) != len(ids):
            raise InputError("each candidate item may appear once", field="candidates")
        fresh = require_items(self.store, ids)
        view = self.view()
        touches = self.touches(view, user_id)
        history = Query.of([t.index for t in touches])
        scores = self.scorer.score(view.model, history).astype(np.float64)
        scores[~view.vocab_mask(Filters())] = -np.inf
        idxs = [view.index(i) or -1 for i in ids]
        probs = engagement_probabilities(scores, temperature)
        cand_probs = np.array([probs[i] if i >= 0 else 0.0 for i in idxs])
        relevance = relevance_of(scores, idxs)
        bids = [float(c[1]) for c in candidates]
        gone = {i for i in ids if not fresh[i].available}
        eligible, below = rank_candidates(cand_probs, relevance, bids, relevance_floor, ids)
        rejected = [(i, "unavailable") for i in ids if i in gone]
        rejected += [
            (ids[a.index], f"relevance {a.relevance:.2f} is below the floor {relevance_floor:g}")
            for a in below
            if ids[a.index] not in gone
        ]
        ranked = [
            AdChoice(
                fresh[ids[a.index]], bids[a.index], a.probability, a.relevance, a.expected_value
            )
            for a in eligible
            if ids[a.index] not in gone
        ][:k]
        return AdRanking(view.version, ranked, rejected)


def _view_or_none(scenarios: Searching) -> ModelView | None:
    try:
        return scenarios.view()
    except ModelError:
        return None
