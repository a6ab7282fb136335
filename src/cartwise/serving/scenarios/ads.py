"""Sponsored slots: given candidates with bids, rank them for a shopper by expected value."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cartwise.errors import InputError
from cartwise.ranking.ads import engagement_probabilities, rank_candidates, relevance_of
from cartwise.ranking.filters import Filters
from cartwise.ranking.results import AdChoice, AdRanking
from cartwise.serving.context import Context
from cartwise.serving.scenarios.common import history, require_items, touches_of


def rank_ads(
    ctx: Context,
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
    fresh = require_items(ctx.store, ids)
    view = ctx.view()
    touches = touches_of(view, history(ctx, view, user_id))
    scores = ctx.scorer.score(view.model, view.query(touches))
    scores = scores.astype(np.float64)
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
        AdChoice(fresh[ids[a.index]], bids[a.index], a.probability, a.relevance, a.expected_value)
        for a in eligible
        if ids[a.index] not in gone
    ][:k]
    return AdRanking(view.version, ranked, rejected)
