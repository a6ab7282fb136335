"""Ranking metrics as pure functions (../shared/BENCHMARKS.md defines the protocol).

A *rank* is 0-based: 0 means the target is the best-scored candidate. Ranks are pessimistic:
ties count against the model, so a constant scorer gets the worst rank, not a lucky one::

    rank(t) = |{ j candidate : s_j ≥ s_t }| − 1

Candidates are all real items (index 0 is padding) minus the excluded (seen) ones. A target that
is itself excluded cannot be recommended; it gets rank ``n_items`` (a miss at every K).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cartwise.errors import DataError


def ranks(
    scores: np.ndarray,
    targets: np.ndarray,
    exclude: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Pessimistic 0-based rank of each row's target.

    ``rank_b = |{ j ≥ 1, j ∉ exclude_b : s_bj ≥ s_b,target_b }| − 1``

    Args:
        scores: (B, n_items + 1) scores; column 0 (padding) is never a candidate.
        targets: (B,) item index per row.
        exclude: per row, item indices removed from the candidates (the seen items).

    Returns:
        int64 (B,) ranks in 0..n_items, ``n_items`` when the target was excluded.
    """
    masked = mask_scores(scores, exclude)
    targets = np.asarray(targets, dtype=np.int64)
    rows = np.arange(masked.shape[0])
    target_scores = masked[rows, targets]
    out = (masked >= target_scores[:, None]).sum(axis=1) - 1
    out[~np.isfinite(target_scores)] = masked.shape[1] - 1
    return np.asarray(out, dtype=np.int64)


def multi_ranks(
    scores: np.ndarray,
    targets: Sequence[np.ndarray],
    exclude: Sequence[np.ndarray] | None = None,
) -> list[np.ndarray]:
    """Ranks of several targets per row (same rule as :func:`ranks`; other targets count too)."""
    masked = mask_scores(scores, exclude)
    n_items = masked.shape[1] - 1
    out = []
    for row, tgt in zip(masked, targets, strict=True):
        t = row[np.asarray(tgt, dtype=np.int64)]
        r = (row[None, :] >= t[:, None]).sum(axis=1) - 1
        r[~np.isfinite(t)] = n_items
        out.append(r.astype(np.int64))
    return out


def hit_rate(ranks: np.ndarray, k: int) -> float:
    """HR@K = mean over users of [rank < K] (= Recall@K with one target)."""
    return float(np.mean(np.asarray(ranks) < k)) if len(ranks) else 0.0


def ndcg(ranks: np.ndarray, k: int) -> float:
    """NDCG@K with one target = mean of 1 / log2(rank + 2) if rank < K else 0."""
    r = np.asarray(ranks, dtype=np.float64)
    if not r.size:
        return 0.0
    return float(np.mean(np.where(r < k, 1.0 / np.log2(r + 2.0), 0.0)))


def mrr(ranks: np.ndarray) -> float:
    """MRR = mean of 1 / (rank + 1) (full list, no cut-off)."""
    r = np.asarray(ranks, dtype=np.float64)
    return float(np.mean(1.0 / (r + 1.0))) if r.size else 0.0


def recall(rank_lists: Sequence[np.ndarray], k: int) -> float:
    """Recall@K = mean over users of |{t : rank_t < K}| / min(|T|, K).

    Dividing by min(|T|, K) rather than |T| lets a perfect top-K score 1 when a user has more
    targets than K. With one target it equals HR@K.
    """
    if not rank_lists:
        return 0.0
    vals = [np.sum(r < k) / min(len(r), k) for r in rank_lists if len(r)]
    return float(np.mean(vals)) if vals else 0.0


def ndcg_multi(rank_lists: Sequence[np.ndarray], k: int) -> float:
    """NDCG@K with several relevant items (binary relevance), mean over users.

    ``DCG = Σ_{t : rank_t < K} 1 / log2(rank_t + 2)``,
    ``IDCG = Σ_{i < min(|T|, K)} 1 / log2(i + 2)``, NDCG = DCG / IDCG.
    With one target it equals :func:`ndcg`.
    """
    vals = []
    for r in rank_lists:
        if not len(r):
            continue
        r = np.asarray(r, dtype=np.float64)
        dcg = np.sum(np.where(r < k, 1.0 / np.log2(r + 2.0), 0.0))
        idcg = np.sum(1.0 / np.log2(np.arange(min(len(r), k)) + 2.0))
        vals.append(dcg / idcg)
    return float(np.mean(vals)) if vals else 0.0


def coverage(topk_lists: np.ndarray | Sequence[Sequence[int]], n_items: int) -> float:
    """Catalog coverage = |∪_u topK(u)| / n_items (index 0 never counts)."""
    if n_items <= 0:
        raise DataError(f"coverage needs a positive catalog size, got n_items={n_items}")
    seen: set[int] = set()
    for row in topk_lists:
        seen.update(int(i) for i in row if int(i) > 0)
    return len(seen) / n_items


def novelty(topk_lists: np.ndarray | Sequence[Sequence[int]], item_popularity: np.ndarray) -> float:
    """Mean self-information of recommended items, in bits.

    ``novelty = mean_{u, i ∈ topK(u)} −log2 p(i)`` with the add-one smoothed popularity
    ``p(i) = (c_i + 1) / (Σ_{j ≥ 1} c_j + n_items)`` from the interaction counts c (index 0 =
    padding, ignored), so unseen items have finite information.
    """
    counts = np.asarray(item_popularity, dtype=np.float64)[1:]
    n = len(counts)
    if n == 0:
        raise DataError("novelty needs item popularity for at least one item")
    info = -np.log2((counts + 1.0) / (counts.sum() + n))
    picked = [info[int(i) - 1] for row in topk_lists for i in row if int(i) > 0]
    return float(np.mean(picked)) if picked else 0.0


def mask_scores(scores: np.ndarray, exclude: Sequence[np.ndarray] | None) -> np.ndarray:
    """Float32 copy of `scores` (B, n_items + 1) with padding, excluded items and NaN at −inf.

    Args:
        scores: one row of scores per user.
        exclude: per row, the item indices that are not candidates (e.g. seen items).
    """
    masked = np.array(scores, dtype=np.float32, copy=True)
    if masked.ndim != 2:
        raise DataError(f"scores must be 2-D (users, n_items + 1), got shape {masked.shape}")
    masked[:, 0] = -np.inf
    if exclude is not None:
        if len(exclude) != masked.shape[0]:
            raise DataError(f"exclude has {len(exclude)} rows for {masked.shape[0]} score rows")
        lengths = np.fromiter((len(e) for e in exclude), dtype=np.int64, count=len(exclude))
        if lengths.sum():
            rows = np.repeat(np.arange(len(exclude)), lengths)
            cols = np.concatenate([np.asarray(e, dtype=np.int64) for e in exclude])
            masked[rows, cols] = -np.inf
    masked[np.isnan(masked)] = -np.inf
    return masked
