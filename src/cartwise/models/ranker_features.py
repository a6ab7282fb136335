"""Candidates and features of the second-stage ranker: one row per (shopper, candidate item).

Each base model proposes its top ``candidates`` items outside the shopper's history; the union
is what the ranker reorders. Per candidate ``c`` of a shopper with history ``h`` (newest last)
and window ``w`` = the last ``window`` items of ``h``:

- per base model m: ``m_score`` (its raw score of c), ``m_rank`` (0-based rank among its
  candidates, ``candidates`` when c is not one of them), ``m_gap`` (its best score − c's);
  ``n_sources``: how many models proposed c;
- ``hist_len``: log(1 + |h|);
- popularity: ``pop_log`` log(1 + count), ``pop_recent`` log(1 + recent count), ``pop_trend``
  log((recent + 1) / (count · recent_total / total + 1)): above 0 for items rising now;
- sequence: ``trans_last`` how often c followed h[-1] in training, ``trans_share`` that count
  over h[-1]'s outgoing transitions, ``trans_window`` the same count summed over w;
- text (unit item vectors): ``text_profile`` cosine with the recency-weighted profile,
  ``text_last`` with h[-1], ``text_max`` the best over w, ``text_max_gap`` how many events ago
  that best item was;
- per catalog attribute g (category, brand): ``g_last`` whether c shares a value with h[-1],
  ``g_share`` the share of w that does, ``g_gap`` events since the last one that did (|w| when
  none): the recency of the last related event;
- price: ``price_ratio`` c's price over the median of w's known prices, ``price_log``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from cartwise.models.ranker_stats import ItemStats, pairs_lookup, shares


@dataclass(frozen=True)
class FeatureSpec:
    """Which features exist (fixed at fit time and saved, so serving builds the same columns).

    Attributes:
        sources: base models proposing candidates, in column order.
        candidates: top-N taken from each source.
        window: latest history items the text, category and price features read.
        text: whether text features are built (needs item vectors).
        groups: catalog attributes with category-match features.
        price: whether price features are built.
    """

    sources: tuple[str, ...]
    candidates: int
    window: int
    text: bool
    groups: tuple[str, ...]
    price: bool

    def names(self) -> list[str]:
        """Column names, in matrix order."""
        out = [f"{m}_{f}" for m in self.sources for f in ("score", "rank", "gap")]
        out += ["n_sources", "hist_len", "pop_log", "pop_recent", "pop_trend"]
        out += ["trans_last", "trans_share", "trans_window"]
        if self.text:
            out += ["text_profile", "text_last", "text_max", "text_max_gap"]
        for g in self.groups:
            out += [f"{g}_last", f"{g}_share", f"{g}_gap"]
        if self.price:
            out += ["price_ratio", "price_log"]
        return out


@dataclass(frozen=True)
class Candidates:
    """Candidate pairs of a batch of queries, ordered by query then item.

    Attributes:
        rows: (P,) query position in the batch.
        items: (P,) candidate item index.
        features: (P, F) float32, columns as :meth:`FeatureSpec.names`.
    """

    rows: np.ndarray
    items: np.ndarray
    features: np.ndarray


@dataclass(frozen=True)
class TextInputs:
    """Unit item vectors (V, E) and the queries' profiles (B, E)."""

    vectors: np.ndarray
    profiles: np.ndarray


def build(
    spec: FeatureSpec,
    histories: Sequence[np.ndarray],
    scores: dict[str, np.ndarray],
    stats: ItemStats,
    text: TextInputs | None = None,
) -> Candidates:
    """Candidates and their features for a batch of histories.

    Args:
        spec: the feature set.
        histories: item indices per query, oldest first.
        scores: per source in ``spec.sources``, (B, V) scores of every item.
        stats: item facts of the stage's training data.
        text: item vectors and profiles (required when ``spec.text``).
    """
    keys, columns = _candidate_columns(spec, histories, scores)
    n_items = next(iter(scores.values())).shape[1]
    rows, items = keys // n_items, keys % n_items
    windows = _windows(histories, spec.window)[rows]  # (P, L) newest first, 0 = padding
    ranks = columns[1::3]
    columns.append((np.stack(ranks) < spec.candidates).sum(axis=0).astype(np.float64))
    lengths = np.fromiter((len(h) for h in histories), dtype=np.float64, count=len(histories))
    columns.append(np.log1p(lengths[rows]))
    columns += _popularity(stats, items)
    columns += _transitions(stats, windows, items)
    if spec.text:
        if text is None:
            raise ValueError("text features need item vectors and profiles")
        columns += _text(text, rows, windows, items)
    for g in spec.groups:
        columns += _group(stats.groups[g], windows, items)
    if spec.price:
        columns += _price(stats.price, windows, items)
    features = np.column_stack(columns).astype(np.float32) if columns else np.zeros((0, 0))
    return Candidates(rows, items, features)


def _candidate_columns(
    spec: FeatureSpec, histories: Sequence[np.ndarray], scores: dict[str, np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Sorted pair keys ``row · V + item`` of the union of every source's top-N, and per source
    its score, rank and gap columns."""
    n_rows, n_items = next(iter(scores.values())).shape
    lengths = np.fromiter((len(h) for h in histories), dtype=np.int64, count=len(histories))
    seen_rows = np.repeat(np.arange(n_rows), lengths)
    seen = np.concatenate(histories).astype(np.int64) if lengths.sum() else seen_rows
    tops: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    k = min(spec.candidates, n_items - 1)
    for name in spec.sources:
        masked = np.array(scores[name], dtype=np.float32, copy=True)
        masked[:, 0] = -np.inf
        masked[seen_rows, seen] = -np.inf
        values, index = torch.topk(torch.from_numpy(masked), k, dim=1)  # (B, k)
        ok = np.isfinite(values.numpy())
        pair_keys = (np.arange(n_rows)[:, None] * n_items + index.numpy())[ok]
        order = np.argsort(pair_keys, kind="stable")
        ranks = np.broadcast_to(np.arange(k), (n_rows, k))[ok]
        best = np.where(ok[:, 0], values.numpy()[:, 0], 0.0)
        tops[name] = (pair_keys[order], ranks[order], best)
    keys = np.unique(np.concatenate([t[0] for t in tops.values()]))
    rows, items = keys // n_items, keys % n_items
    columns: list[np.ndarray] = []
    for name in spec.sources:
        sorted_keys, ranks, best = tops[name]
        pos = np.minimum(np.searchsorted(sorted_keys, keys), max(len(sorted_keys) - 1, 0))
        found = sorted_keys[pos] == keys if len(sorted_keys) else np.zeros(len(keys), bool)
        rank = np.where(found, ranks[pos] if len(ranks) else 0, spec.candidates)
        score = scores[name][rows, items].astype(np.float64)
        columns += [score, rank.astype(np.float64), best[rows] - score]
    return keys, columns


def _windows(histories: Sequence[np.ndarray], window: int) -> np.ndarray:
    """(B, window) latest items per history, newest first, padded with 0."""
    out = np.zeros((len(histories), window), dtype=np.int64)
    for row, h in enumerate(histories):
        recent = np.asarray(h[-window:], dtype=np.int64)[::-1]
        out[row, : len(recent)] = recent
    return out


def _popularity(stats: ItemStats, items: np.ndarray) -> list[np.ndarray]:
    counts, recent = stats.counts[items], stats.recent[items]
    share = stats.recent.sum() / max(stats.counts.sum(), 1.0)
    trend = np.log((recent + 1.0) / (counts * share + 1.0))
    return [np.log1p(counts), np.log1p(recent), trend]


def _transitions(stats: ItemStats, windows: np.ndarray, items: np.ndarray) -> list[np.ndarray]:
    t = stats.transitions
    last = windows[:, 0]
    after_last = pairs_lookup(t, last, items)
    out_degree = np.asarray(t.sum(axis=1), dtype=np.float64).reshape(-1)
    share = after_last / np.maximum(out_degree[last], 1.0)
    total = np.zeros(len(items))
    for col in range(windows.shape[1]):
        total += pairs_lookup(t, windows[:, col], items)  # padding (0) has no transitions
    return [after_last, share, total]


def _text(
    text: TextInputs, rows: np.ndarray, windows: np.ndarray, items: np.ndarray
) -> list[np.ndarray]:
    cand = text.vectors[items]  # (P, E)
    profile = np.einsum("pe,pe->p", cand, text.profiles[rows])
    best = np.full(len(items), -np.inf)
    best_gap = np.full(len(items), float(windows.shape[1]))
    last = np.zeros(len(items))
    for col in range(windows.shape[1]):
        past = windows[:, col]
        sims = np.where(past > 0, np.einsum("pe,pe->p", cand, text.vectors[past]), -np.inf)
        if col == 0:
            last = np.where(past > 0, sims, 0.0)
        better = sims > best
        best = np.where(better, sims, best)
        best_gap = np.where(better, float(col), best_gap)
    best[~np.isfinite(best)] = 0.0
    return [profile, last, best, best_gap]


def _group(words: np.ndarray, windows: np.ndarray, items: np.ndarray) -> list[np.ndarray]:
    width = windows.shape[1]
    hits = np.zeros(len(items))
    filled = np.zeros(len(items))
    gap = np.full(len(items), float(width))
    last = np.zeros(len(items))
    for col in range(width - 1, -1, -1):  # oldest first, so the newest match sets `gap` last
        past = windows[:, col]
        match = shares(words, past, items) & (past > 0)
        hits += match
        filled += past > 0
        gap = np.where(match, float(col), gap)
        if col == 0:
            last = match.astype(np.float64)
    return [last, hits / np.maximum(filled, 1.0), gap]


def _price(price: np.ndarray | None, windows: np.ndarray, items: np.ndarray) -> list[np.ndarray]:
    if price is None:
        nan = np.full(len(items), np.nan)
        return [nan, nan]
    known = np.where(windows > 0, price[windows], np.nan)  # (P, L)
    with np.errstate(all="ignore"):
        has = np.isfinite(known).any(axis=1)
        median = np.full(len(items), np.nan)
        if has.any():
            median[has] = np.nanmedian(known[has], axis=1)
        return [price[items] / median, np.log(price[items])]
