"""From a score array to the items shown: eligible top-k, fresh-row checks, diversity.

Scores live in some index space (a model's item indices, or catalog rows for search); the caller
says how an index becomes an external id. Candidates are taken best first from the scores with
ineligible indices already at -inf, then checked against item rows read in the same request
(:func:`cartwise.ranking.filters.rejection`), over-fetching until enough pass. Rows come
through a `fetch` function the caller gives (no database here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cartwise.data.schema import Item
from cartwise.models.base import Scored
from cartwise.ranking.diversity import (
    Diversity,
    category_cap,
    category_similarity,
    cosine_similarity,
    mmr,
)
from cartwise.ranking.filters import Filters, rejection, variant_group
from cartwise.ranking.topk import top_k

#: With MMR, rerank from this many times `k` eligible candidates.
POOL_FACTOR = 5
_MAX_ROUNDS = 4

#: Reads fresh item rows by id (absent ids are left out).
Fetch = Callable[[Sequence[str]], Mapping[str, Item]]


@dataclass(frozen=True)
class Pick:
    """An item chosen for the answer: its fresh row, score and index in the score space."""

    item: Item
    score: float
    index: int


def pick(
    fetch: Fetch,
    scores: np.ndarray,
    decode: Callable[[list[int]], list[str]],
    k: int,
    filters: Filters,
    diversity: Diversity | None = None,
    vectors: np.ndarray | None = None,
    seen: dict[str, Item | None] | None = None,
) -> list[Pick]:
    """The best `k` items of `scores` that pass `filters` on fresh rows, one per variant group
    (unless ``filters.all_variants``), diversified.

    Candidates are read deeper until enough pass (with ``category_cap``: until `k` pass the cap
    or the scores run out); with MMR the `k` are chosen from ``POOL_FACTOR * k`` eligible
    candidates.

    Args:
        fetch: reads fresh item rows by id.
        scores: one score per index; -inf marks what may not be shown.
        decode: index list → external id list.
        k: how many items.
        filters: business rules checked on the fresh rows.
        diversity: optional reranking.
        vectors: per-index item vectors for MMR (category similarity is used without them).
        seen: if given, receives id → fresh row (None: no row) of every candidate examined:
            the rows the answer was decided on (see :mod:`cartwise.serving.cache`).
    """
    method = diversity.method if diversity is not None else "none"
    needed = k * POOL_FACTOR if method == "mmr" else k
    want = needed + max(10, needed)
    rounds = 0
    while True:
        ranked = top_k(scores, want)
        passing = _passing(fetch, ranked, decode(_indices(ranked)), filters, seen)
        if not filters.all_variants:
            passing = _one_per_group(passing)
        chosen = _capped(passing, k, diversity) if method == "category_cap" else passing
        rounds += 1
        exhausted = len(ranked) < want
        if (
            len(chosen) >= needed
            or exhausted
            or (method != "category_cap" and rounds == _MAX_ROUNDS)
        ):
            break
        want *= 4
    if method == "mmr" and diversity is not None:
        return _mmr(chosen[:needed], k, diversity, vectors)
    return chosen[:k]


def _indices(ranked: Sequence[Scored]) -> list[int]:
    """The indices of scored candidates, in order."""
    return [s.item for s in ranked]


def _passing(
    fetch: Fetch,
    ranked: Sequence[Scored],
    ids: list[str],
    filters: Filters,
    seen: dict[str, Item | None] | None,
) -> list[Pick]:
    """The candidates whose fresh rows pass `filters`, in order."""
    fresh = fetch(ids)
    if seen is not None:
        seen.update((external, fresh.get(external)) for external in ids)
    out = []
    for s, external in zip(ranked, ids, strict=True):
        item = fresh.get(external)
        if item is not None and rejection(item, filters) is None:
            out.append(Pick(item, s.score, s.item))
    return out


def _one_per_group(pool: list[Pick]) -> list[Pick]:
    """The best of each variant group, in order."""
    seen: set[str] = set()
    out = []
    for p in pool:
        group = variant_group(p.item)
        if group not in seen:
            seen.add(group)
            out.append(p)
    return out


def _leaves(pool: Sequence[Pick]) -> list[str]:
    return [p.item.category[-1] if p.item.category else "" for p in pool]


def _capped(pool: list[Pick], k: int, diversity: Diversity | None) -> list[Pick]:
    assert diversity is not None
    return [pool[i] for i in category_cap(_leaves(pool), k, diversity.max_per_category)]


def _mmr(pool: list[Pick], k: int, diversity: Diversity, vectors: np.ndarray | None) -> list[Pick]:
    if vectors is not None:
        sim = cosine_similarity(vectors[[p.index for p in pool]])
    else:
        sim = category_similarity(_leaves(pool))
    relevance = np.array([p.score for p in pool], dtype=np.float64)
    return [pool[i] for i in mmr(relevance, sim, k, diversity.mmr_lambda)]
