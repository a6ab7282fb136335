"""From a score array to the items shown: eligible top-k, fresh-row checks, diversity.

Scores live in some index space (a model's item indices, or catalog rows for search); the caller
says how an index becomes an external id. Candidates are taken best first from the scores with
ineligible indices already at -inf, then checked against item rows read in the same request
(:func:`cartwise.ranking.filters.rejection`), over-fetching until enough pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cartwise.data.schema import Item
from cartwise.data.store import Store
from cartwise.ranking.catalog import ItemRows, fetch_items
from cartwise.ranking.diversity import (
    Diversity,
    category_cap,
    category_similarity,
    cosine_similarity,
    mmr,
)
from cartwise.ranking.filters import Filters, rejection
from cartwise.ranking.topk import top_k

#: With diversity on, rerank from this many times `k` eligible candidates.
POOL_FACTOR = 5
_MAX_ROUNDS = 4


@dataclass(frozen=True)
class Pick:
    """An item chosen for the answer: its fresh row, score and index in the score space."""

    item: Item
    score: float
    index: int


def pick(
    store: Store | ItemRows,
    scores: np.ndarray,
    decode: Callable[[list[int]], list[str]],
    k: int,
    filters: Filters,
    diversity: Diversity | None = None,
    vectors: np.ndarray | None = None,
    seen: dict[str, Item | None] | None = None,
) -> list[Pick]:
    """The best `k` items of `scores` that pass `filters` on fresh rows, diversified.

    Args:
        store: where fresh item rows are read (an :class:`ItemRows` reuses unchanged items).
        scores: one score per index; -inf marks what may not be shown.
        decode: index list → external id list.
        k: how many items.
        filters: business rules checked on the fresh rows.
        diversity: optional reranking.
        vectors: per-index item vectors for MMR (category similarity is used without them).
        seen: if given, receives id → fresh row (None: no row) of every candidate examined:
            the rows the answer was decided on (see :mod:`cartwise.ranking.answers`).
    """
    diverse = diversity is not None and diversity.method != "none"
    needed = k * POOL_FACTOR if diverse else k
    want = needed + max(10, needed)
    passing: list[Pick] = []
    for _ in range(_MAX_ROUNDS):
        ranked = top_k(scores, want)
        ids = decode([s.item for s in ranked])
        fresh = store.fetch(ids) if isinstance(store, ItemRows) else fetch_items(store, ids)
        if seen is not None:
            seen.update((external, fresh.get(external)) for external in ids)
        passing = []
        for s, external in zip(ranked, ids, strict=True):
            item = fresh.get(external)
            if item is not None and rejection(item, filters) is None:
                passing.append(Pick(item, s.score, s.item))
        if len(passing) >= needed or len(ranked) < want:
            break
        want *= 4
    if not diverse or diversity is None:
        return passing[:k]
    return _diversify(passing[:needed], k, diversity, vectors)


def _diversify(
    pool: list[Pick], k: int, diversity: Diversity, vectors: np.ndarray | None
) -> list[Pick]:
    leaves = [p.item.category[-1] if p.item.category else "" for p in pool]
    if diversity.method == "category_cap":
        return [pool[i] for i in category_cap(leaves, k, diversity.max_per_category)]
    if vectors is not None:
        sim = cosine_similarity(vectors[[p.index for p in pool]])
    else:
        sim = category_similarity(leaves)
    relevance = np.array([p.score for p in pool], dtype=np.float64)
    return [pool[i] for i in mmr(relevance, sim, k, diversity.mmr_lambda)]
