"""Ranking sponsored candidates by expected value for one shopper.

The model's scores over the whole catalog become engagement probabilities by a softmax of the
standardised scores (z = (s − mean) / std over scored items, p_i = exp(z_i / T) / Σ_j exp(z_j / T)),
so the result does not depend on the model's score scale. A candidate is eligible when its
*relevance* — the share of scored items it beats for this shopper — is at least the floor; the
eligible ones are ranked by expected value = p × bid (ties: higher relevance, then id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AdScore:
    """One candidate's numbers.

    Attributes:
        index: the candidate's position in the request.
        probability: predicted engagement probability.
        relevance: share of scored items this one beats (0..1).
        expected_value: probability × bid.
    """

    index: int
    probability: float
    relevance: float
    expected_value: float


def engagement_probabilities(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax over the finite scores of standardised `scores`; -inf scores get 0."""
    s = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(s)
    out = np.zeros(len(s))
    if not finite.any():
        return out
    vals = s[finite]
    std = vals.std()
    z = (vals - vals.mean()) / std if std > 0 else np.zeros_like(vals)
    z = z / temperature
    e = np.exp(z - z.max())
    out[finite] = e / e.sum()
    return out


def relevance_of(scores: np.ndarray, indices: Sequence[int]) -> np.ndarray:
    """For each index, the share of finite scores strictly below its score (0 if unscored)."""
    s = np.asarray(scores, dtype=np.float64)
    finite = np.sort(s[np.isfinite(s)])
    out = np.zeros(len(indices))
    if finite.size == 0:
        return out
    for pos, idx in enumerate(indices):
        if idx >= 0 and np.isfinite(s[idx]):
            out[pos] = np.searchsorted(finite, s[idx], side="left") / finite.size
    return out


def rank_candidates(
    probabilities: np.ndarray,
    relevance: np.ndarray,
    bids: Sequence[float],
    floor: float,
    ids: Sequence[str],
) -> tuple[list[AdScore], list[AdScore]]:
    """(eligible ranked by expected value, candidates below the relevance floor)."""
    scored = [
        AdScore(i, float(probabilities[i]), float(relevance[i]), float(probabilities[i] * bids[i]))
        for i in range(len(bids))
    ]
    eligible = [a for a in scored if a.relevance >= floor]
    eligible.sort(key=lambda a: (-a.expected_value, -a.relevance, ids[a.index]))
    below = [a for a in scored if a.relevance < floor]
    return eligible, below
