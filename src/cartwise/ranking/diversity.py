"""Reranking for variety: maximal marginal relevance (MMR) and per-category caps.

MMR (Carbonell & Goldstein, 1998) picks, one at a time, the candidate maximising::

    λ · rel(i) − (1 − λ) · max_{j ∈ S} sim(i, j)

where S is what was already picked and rel is the relevance min-max scaled to [0, 1] over the
candidates, so λ means the same whatever the model's score scale. λ = 1 is the plain ranking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from cartwise.errors import InputError

DiversityMethod = Literal["none", "mmr", "category_cap"]


@runtime_checkable
class HasItemVectors(Protocol):
    """A model that exposes one vector per item index (row 0 = padding) for MMR."""

    def item_vectors(self) -> np.ndarray: ...


@dataclass(frozen=True)
class Diversity:
    """How to diversify a ranking.

    Attributes:
        method: ``none``, ``mmr`` or ``category_cap``.
        mmr_lambda: MMR trade-off in [0, 1]; 1 keeps the relevance order.
        max_per_category: with ``category_cap``, at most this many items per leaf category.
    """

    method: DiversityMethod = "none"
    mmr_lambda: float = 0.7
    max_per_category: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= self.mmr_lambda <= 1.0:
            raise InputError(
                f"mmr_lambda must be in [0, 1], got {self.mmr_lambda}", field="mmr_lambda"
            )
        if self.max_per_category < 1:
            raise InputError(
                f"max_per_category must be at least 1, got {self.max_per_category}",
                field="max_per_category",
            )


def category_cap(categories: Sequence[str], k: int, cap: int) -> list[int]:
    """Positions of the first `k` candidates (in order) with at most `cap` per category.

    Candidates without a category ("") are never capped.
    """
    seen: dict[str, int] = {}
    keep: list[int] = []
    for pos, cat in enumerate(categories):
        if cat and seen.get(cat, 0) >= cap:
            continue
        seen[cat] = seen.get(cat, 0) + 1
        keep.append(pos)
        if len(keep) == k:
            break
    return keep


def mmr(relevance: np.ndarray, similarity: np.ndarray, k: int, lam: float) -> list[int]:
    """Positions of `k` candidates picked greedily by MMR (see the module docstring).

    Args:
        relevance: one score per candidate.
        similarity: (n, n) similarity between candidates.
        k: how many to pick.
        lam: trade-off λ in [0, 1].
    """
    n = len(relevance)
    rel = np.asarray(relevance, dtype=np.float64)
    span = rel.max() - rel.min() if n else 0.0
    rel = (rel - rel.min()) / span if span > 0 else np.ones(n)
    picked: list[int] = []
    closest = np.full(n, -np.inf)  # max similarity to anything picked so far
    free = np.ones(n, dtype=bool)
    for _ in range(min(k, n)):
        penalty = np.where(np.isfinite(closest), closest, 0.0)
        gain = np.where(free, lam * rel - (1.0 - lam) * penalty, -np.inf)
        best = int(np.argmax(gain))  # ties: the earlier (more relevant) candidate
        picked.append(best)
        free[best] = False
        closest = np.maximum(closest, similarity[best])
    return picked


def cosine_similarity(vectors: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity of the rows of `vectors` (zero rows give 0)."""
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    unit = np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)
    sim: np.ndarray = unit @ unit.T
    return sim


def category_similarity(categories: Sequence[str]) -> np.ndarray:
    """1 between candidates sharing a non-empty leaf category, else 0."""
    cats = np.asarray(categories, dtype=object)
    same = (cats[:, None] == cats[None, :]) & (cats[:, None] != "")
    out: np.ndarray = same.astype(np.float64)
    return out
