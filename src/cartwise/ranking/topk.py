"""Top-k over a whole catalog's scores without partitioning the whole array.

:func:`cartwise.models.base.top_k` runs ``argpartition`` over every score: ~1 ms for 100,000
items, on every request. Here a cheap pass finds a threshold that at least `k` scores reach (the
`k`-th largest of the maxima of blocks of :data:`BLOCK` scores: each of those `k` blocks holds a
score at or above it), and only the scores at or above it (typically a few times `k`) are
sorted. The answer is the same: the `k` best scores (as float32) with ties broken by lower index.
"""

from __future__ import annotations

import numpy as np

from cartwise.models.base import Scored
from cartwise.models.base import top_k as full_top_k

#: Scores per block whose maximum bounds the threshold.
BLOCK = 64
#: Below this many scores the plain version is as fast.
_SMALL = 4096


def top_k(scores: np.ndarray, k: int) -> list[Scored]:
    """Best `k` indices of `scores`, best first, ties broken by lower index, never -inf
    (as :func:`cartwise.models.base.top_k` without `exclude`)."""
    n = len(scores)
    if k <= 0 or n < _SMALL or k * BLOCK * 4 > n:
        return full_top_k(scores, k)
    s = np.asarray(scores, dtype=np.float32)
    whole = n - n % BLOCK
    maxima = s[:whole].reshape(-1, BLOCK).max(axis=1)
    if whole < n:
        maxima = np.append(maxima, s[whole:].max())
    threshold = float(np.partition(maxima, len(maxima) - k)[len(maxima) - k])
    if not np.isfinite(threshold) or np.isnan(maxima).any() or np.isinf(maxima.max()):
        return full_top_k(scores, k)  # NaN, +inf, or fewer than k blocks with a finite score
    pool = np.flatnonzero(s >= threshold)
    if len(pool) > n // 8:  # many ties at the threshold: sorting them costs more
        return full_top_k(scores, k)
    order = pool[np.lexsort((pool, -s[pool]))][:k]
    return [Scored(int(i), float(s[i])) for i in order]
