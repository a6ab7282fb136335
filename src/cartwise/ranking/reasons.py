"""Short, factual reasons for recommendations, from evidence the system computed.

For a personalised list the evidence is attribution by single-item histories: each of the
shopper's most recent items is scored alone, and a recommended item is credited to the history
item that gives it the highest score. When no history item changes its score (a popularity model,
or a shopper with no history) the reason says it is popular instead. Nothing is invented: every
title quoted comes from the catalog, every verb from the shopper's own event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from cartwise.data.schema import EventKind
from cartwise.models.base import Query, Recommender

#: How many of the most recent distinct history items are tried as explanations.
RECENT_FOR_REASONS = 5

#: Past-tense verb per event kind, as reasons quote it.
VERBS: dict[str, str] = {
    EventKind.VIEW.value: "viewed",
    EventKind.CLICK.value: "clicked",
    EventKind.ADD_TO_CART.value: "added to your cart",
    EventKind.PURCHASE.value: "bought",
    EventKind.RATING.value: "rated",
}

COLD_START = "popular in the store (no history yet)"
POPULAR = "popular with shoppers right now"
FILLER = "more from the catalog"


@dataclass(frozen=True)
class Touch:
    """One history event usable as evidence: model index, event kind, item title and when it
    happened (epoch seconds; None when unknown, e.g. a session's events)."""

    index: int
    kind: str
    title: str
    time: float | None = None


#: Builds the model query of a history of touches (item indices; kinds and times for models
#: that read them).
QueryOf = Callable[[Sequence[Touch]], Query]


def id_query(touches: Sequence[Touch]) -> Query:
    """The query of item indices alone."""
    return Query.of([t.index for t in touches])


def because(touch: Touch) -> str:
    """'because you viewed "Trail Runner 2"'."""
    verb = VERBS.get(touch.kind, "interacted with")
    return f"because you {verb} '{touch.title}'"


def recent_touches(history: Sequence[Touch]) -> list[Touch]:
    """The most recent distinct history items tried as explanations, latest first."""
    recent: dict[int, Touch] = {}
    for touch in reversed(history):
        if touch.index not in recent:
            recent[touch.index] = touch
        if len(recent) == RECENT_FOR_REASONS:
            break
    return list(recent.values())


def evidence_queries(touches: Sequence[Touch], query_of: QueryOf = id_query) -> list[Query]:
    """What :func:`reasons_from_scores` needs scored: each touch alone, then no history."""
    return [query_of([t]) for t in touches] + [query_of([])]


def attribute(model: Recommender, history: Sequence[Touch], chosen: Sequence[int]) -> list[str]:
    """One reason per chosen model index (see the module docstring)."""
    if not history:
        return [COLD_START] * len(chosen)
    touches = recent_touches(history)
    return reasons_from_scores(model.score_many(evidence_queries(touches)), touches, chosen)


def reasons_from_scores(
    rows: np.ndarray, touches: Sequence[Touch], chosen: Sequence[int]
) -> list[str]:
    """Reasons from the scores of :func:`evidence_queries` (one row per touch, then empty),
    for every chosen column at once (this runs on every request).

    An item is credited to the history item scoring it highest, when some history item moved
    its score at all (beyond a 1e-6 relative tolerance) and either the single-item scores
    differ or the best one lifts it above that row's floor; otherwise it is popular (its
    empty-history score is above the floor) or filler. A non-finite score makes it filler.
    """
    if not len(chosen):
        return []
    floors = finite_floors(rows).astype(np.float64)
    cols = rows[:, list(chosen)].astype(np.float64)  # (touches + 1, k)
    finite = np.asarray(np.isfinite(cols).all(axis=0))
    safe = np.where(np.isfinite(cols), cols, 0.0)
    tol = 1e-6 * np.maximum(1.0, np.abs(safe).max(axis=0))
    alone, base = safe[:-1], safe[-1]
    popular = base > floors[-1] + tol
    moved = safe.max(axis=0) - safe.min(axis=0) > tol  # some history item changes the score
    best = alone.argmax(axis=0)
    lifted = alone[best, np.arange(len(chosen))] > floors[best] + tol
    credit = moved & ((alone.max(axis=0) - alone.min(axis=0) > tol) | lifted)
    columns = zip(finite.tolist(), credit.tolist(), best.tolist(), popular.tolist(), strict=True)
    return [
        FILLER if not ok else because(touches[b]) if c else POPULAR if p else FILLER
        for ok, c, b, p in columns
    ]


def finite_floors(rows: np.ndarray) -> np.ndarray:
    """Each row's lowest finite score (inf when it has none), in the rows' dtype.

    Model scores are -inf at the padding index 0 and finite elsewhere, so the minimum of the
    rest, compared with index 0, is the answer in one pass without copying the finite scores
    out; rows where that does not hold take the general way.
    """
    if rows.ndim != 2 or rows.shape[1] < 2:
        return np.array([r[np.isfinite(r)].min(initial=np.inf) for r in rows])
    rest = rows[:, 1:].min(axis=1)
    first = rows[:, 0]
    out = np.where(np.isfinite(first) & (first < rest), first, rest)
    for i in np.flatnonzero(~np.isfinite(rest)):  # NaN, -inf or no finite score after index 0
        r = rows[i]
        out[i] = r[np.isfinite(r)].min(initial=np.inf)
    return out
