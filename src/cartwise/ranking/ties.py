"""Ordering items a model scores alike by their popularity (their cold-start score).

The nudge is at most 1e-6 of the score range, so it only orders ties (e.g. the many items ItemKNN
scores 0). :func:`with_popularity_ties` computes it from scratch. The cold-start row is the same
on every request of a model, so :class:`PopularityTies` prepares its part once and
:meth:`PopularityTies.apply` gives the same numbers with a few whole-catalog passes fewer
(no boolean gathers and scatters: 0.7 → ~0.2 ms for 100,000 items).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def with_popularity_ties(scores: np.ndarray, cold: np.ndarray) -> np.ndarray:
    """`scores` as float64, where items scored alike are ordered by their `cold` score (a nudge
    of at most 1e-6 of the score range)."""
    out = scores.astype(np.float64)
    finite = np.isfinite(out) & np.isfinite(cold)
    if finite.any():
        span = float(np.ptp(out[finite])) or 1.0
        c = cold[finite].astype(np.float64)
        c_span = float(np.ptp(c)) or 1.0
        out[finite] += 1e-6 * span * (c - c.min()) / c_span
    return out


@dataclass(frozen=True, eq=False)
class PopularityTies:
    """The cold-start row's part of :func:`with_popularity_ties`, computed once per model.

    Attributes:
        cold: the cold-start row it was made from (read-only copy).
        finite: where `cold` is finite (read-only).
        lift: ``cold - min(cold)`` where finite, 0 elsewhere (float64).
        c_span: the range of the finite cold scores (1.0 when they are all equal).
        runs: the (start, stop) runs of finite cold scores, when there are few (the padding
            index is the only non-finite one for the registered models); None otherwise.
    """

    cold: np.ndarray
    finite: np.ndarray
    lift: np.ndarray
    c_span: float
    runs: list[tuple[int, int]] | None

    @classmethod
    def of(cls, cold: np.ndarray) -> PopularityTies:
        """Prepare the tie-break of the cold-start row `cold`."""
        cold = np.array(cold, copy=True)
        finite = np.isfinite(cold)
        c = cold.astype(np.float64)
        lift = np.zeros(len(c), dtype=np.float64)
        if finite.any():
            lift[finite] = c[finite] - c[finite].min()
        c_span = float(np.ptp(c[finite])) if finite.any() else 0.0
        for a in (cold, finite, lift):
            a.flags.writeable = False
        return cls(cold, finite, lift, c_span or 1.0, _runs(finite))

    def apply(self, scores: np.ndarray, cold: np.ndarray) -> np.ndarray:
        """``with_popularity_ties(scores, cold)``, bit for bit.

        The fast path needs `cold` to be the prepared row and `scores` finite wherever it is
        finite (model scores are: only the padding index is -inf); otherwise the full
        computation runs.
        """
        if cold.shape != self.cold.shape or not np.array_equal(cold, self.cold):
            return with_popularity_ties(scores, cold)
        out = scores.astype(np.float64)
        finite_out = np.isfinite(out)
        if np.any(self.finite & ~finite_out) or not self.finite.any():
            return with_popularity_ties(scores, cold)
        # here isfinite(out) & isfinite(cold) == self.finite
        span = float(self._high(out) - self._low(out)) or 1.0
        nudge = (1e-6 * span) * self.lift  # the same operations, in the same order, as above
        nudge /= self.c_span
        out += nudge  # + 0.0 where cold is not finite; ±inf stays itself
        return out

    def _high(self, out: np.ndarray) -> np.float64:
        if self.runs is None:
            return np.float64(np.max(out, where=self.finite, initial=-np.inf))
        return max(np.float64(out[a:b].max()) for a, b in self.runs)

    def _low(self, out: np.ndarray) -> np.float64:
        if self.runs is None:
            return np.float64(np.min(out, where=self.finite, initial=np.inf))
        return min(np.float64(out[a:b].min()) for a, b in self.runs)


_MAX_RUNS = 16


def _runs(finite: np.ndarray) -> list[tuple[int, int]] | None:
    """The (start, stop) slices where `finite` holds, if there are at most a few."""
    edges = np.flatnonzero(np.diff(finite.astype(np.int8), prepend=0, append=0))
    if len(edges) > 2 * _MAX_RUNS:
        return None
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
