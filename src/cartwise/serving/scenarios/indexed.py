"""Personalised lists of a large catalog from the version's item index.

When the active view has an index (:mod:`cartwise.ranking.ann`: a dot-product model over a
catalog past the threshold), a list is made without scoring the whole catalog: the shopper's
query vector asks the index for a pool of candidates that pass the filters, the pool is scored
exactly and the usual pipeline (:func:`cartwise.ranking.pipeline.pick`: fresh rows, variant
groups, diversity) picks from it. When the pool runs out before `k` items pass the fresh-row
checks it is fetched again, four times deeper, up to :data:`~cartwise.ranking.ann.MAX_FETCH`;
past that the caller scores the whole catalog as for small ones. Reasons come from the single
touches' scores of the pool (their floor: the lowest in the pool; the popularity row's: its
true minimum, worked out once per view).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from cartwise.models.base import Query
from cartwise.models.vectors import dot_product
from cartwise.ranking.ann import MAX_FETCH, VectorIndex
from cartwise.ranking.diversity import Diversity, HasItemVectors
from cartwise.ranking.filters import Filters
from cartwise.ranking.pipeline import Pick, pick
from cartwise.ranking.reasons import Touch, reasons_from_scores, recent_touches
from cartwise.ranking.results import Recommendation, Served
from cartwise.ranking.ties import with_popularity_ties
from cartwise.serving.active import ModelView
from cartwise.serving.cache import Seen
from cartwise.serving.context import Context

#: First pool: this many candidates per item wanted (pick reads deeper when rows fail checks).
DEPTH_FACTOR = 4
MIN_DEPTH = 64


def indexed_list(
    ctx: Context,
    view: ModelView,
    touches: list[Touch],
    k: int,
    filters: Filters,
    diversity: Diversity | None,
    exclude: set[str],
    seen: Seen | None = None,
) -> Served | None:
    """The model's list from the view's index, or None when the view has none, the history is
    empty, or the pool ran out (the caller then scores the whole catalog)."""
    index, model = view.ann, dot_product(view.model)
    if index is None or model is None or not touches:
        return None
    recent = recent_touches(touches)
    queries = [view.query(touches), *(view.query([t]) for t in recent)]
    vectors = ctx.scorer.call(lambda: model.query_vectors(queries))  # (1 + touches, D)
    cold = ctx.scorer.score(view.model, Query.of([]))  # popularity: kept in the score cache
    allowed = allowed_mask(view, filters, exclude)
    depth = max(MIN_DEPTH, DEPTH_FACTOR * (k + 10))
    while True:
        found, scores = ctx.scorer.call(partial(index.search, vectors[0], depth, allowed))
        picks = _pick(ctx, view, found, scores, cold, k, filters, diversity, seen)
        if len(picks) >= k or len(found) < depth:  # enough, or every allowed item was seen
            break
        if depth >= MAX_FETCH:
            return None
        depth = min(MAX_FETCH, depth * 4)
    reasons = _reasons(view, index, vectors[1:], cold, found, recent, [p.index for p in picks])
    items = [Recommendation(p.item, p.score, r) for p, r in zip(picks, reasons, strict=True)]
    return Served(view.version, items)


def allowed_mask(view: ModelView, filters: Filters, exclude: set[str]) -> np.ndarray:
    """Per model index: in the catalog, passing `filters` and not excluded."""
    allowed = np.array(view.vocab_mask(filters), dtype=bool, copy=True)
    allowed[0] = False
    for item_id in exclude:
        idx = view.index(item_id)
        if idx is not None:
            allowed[idx] = False
    return allowed


def _pick(
    ctx: Context,
    view: ModelView,
    found: np.ndarray,
    scores: np.ndarray,
    cold: np.ndarray,
    k: int,
    filters: Filters,
    diversity: Diversity | None,
    seen: Seen | None,
) -> list[Pick]:
    """:func:`pick` over the pool (its positions are the score space), popularity breaking
    ties as on the whole catalog."""
    ranked = with_popularity_ties(scores, cold[found])
    model = view.model
    vectors = model.item_vectors() if isinstance(model, HasItemVectors) else None

    def decode(positions: list[int]) -> list[str]:
        return view.decode([int(found[p]) for p in positions])

    pool_vectors = None if vectors is None else vectors[found]
    return pick(ctx.rows.fetch, ranked, decode, k, filters, diversity, pool_vectors, seen)


def _reasons(
    view: ModelView,
    index: VectorIndex,
    single: np.ndarray,
    cold: np.ndarray,
    found: np.ndarray,
    recent: list[Touch],
    chosen: list[int],
) -> list[str]:
    """Reasons from the pool's scores under each single touch and under no history; column 0
    holds each row's floor (the pool's lowest; the popularity row's true minimum)."""
    rows = np.empty((len(recent) + 1, len(found) + 1), dtype=np.float32)
    rows[:-1, 1:] = single @ index.items[found].T  # (touches, pool)
    rows[-1, 1:] = cold[found]
    rows[:-1, 0] = rows[:-1, 1:].min(axis=1) if len(found) else 0.0
    rows[-1, 0] = _cold_floor(view, cold)
    return reasons_from_scores(rows, recent, [c + 1 for c in chosen])


def _cold_floor(view: ModelView, cold: np.ndarray) -> float:
    floor: float | None = view.memo.get("cold_floor")
    if floor is None:
        finite = cold[np.isfinite(cold)]
        floor = view.memo["cold_floor"] = float(finite.min()) if finite.size else 0.0
    return floor
