"""Training batches of the SASRec family, and the event-aware model's per-position inputs.

:class:`SequenceBatches` cuts item sequences into windows and serves them in length-sorted
batches (the id-only SASRec). :class:`EventBatches` serves the same windows with each
position's event kind and time-gap bucket, and weights every target by the kind of the event
it predicts (:func:`target_weights`): what the event-aware SASRec trains on.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import torch

from cartwise.data.dataset import Vocabulary
from cartwise.errors import DataError, ModelError

_SORT_GROUP = 64  # batches whose sequences are sorted by length together (less padding)

#: Time-gap buckets: 0 = padding, 1 = no gap (a first event, or no time), then
#: ``2 + min(floor(log2(1 + seconds)), 25)``: log-spaced from "same second" through minutes,
#: hours and days to "a year or more".
NO_GAP = 1
_GAP_LOG2_MAX = 25
N_GAP_BUCKETS = 2 + _GAP_LOG2_MAX + 1


def gap_buckets(times: np.ndarray | None, n: int) -> np.ndarray:
    """Per position of a history of `n` events, the bucket of the time since the previous
    event (int64); :data:`NO_GAP` for the first event, for every event without `times`, and
    where a time is missing (NaN)."""
    out = np.full(n, NO_GAP, dtype=np.int64)
    if times is None or n < 2:
        return out
    gaps = np.diff(np.asarray(times, dtype=np.float64))
    known = np.isfinite(gaps)
    logs = np.floor(np.log2(1.0 + np.maximum(gaps[known], 0.0)))
    out[1:][known] = 2 + np.minimum(logs, _GAP_LOG2_MAX).astype(np.int64)
    return out


def target_weights(
    kinds: Vocabulary, targets: Sequence[str] | None, weights: Mapping[str, float]
) -> np.ndarray:
    """Per kind code, the loss weight of a target of that kind (0: not a target).

    Every kind is a target when `targets` is None; a kind's weight is ``weights[name]``,
    else 1. Names the data lacks are ignored.

    Raises:
        DataError: none of `targets` is a kind of the data.
    """
    out = np.ones(len(kinds), dtype=np.float32)
    if targets is not None:
        wanted = [kinds.index(t) for t in targets if t in kinds]
        if not wanted:
            raise DataError(
                f"target_kinds {list(targets)} names no kind of the training data; its kinds: "
                f"{', '.join(kinds.ids)}"
            )
        out[:] = 0.0
        out[wanted] = 1.0
    for name, weight in weights.items():
        code = kinds.get(name)
        if code is not None and out[code] > 0:
            out[code] = weight
    return out


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # items (B, T), positions (N,), targets


class EventBatch(NamedTuple):
    """A batch of the event-aware model: right-padded inputs (B, T) and the N positions that
    carry a target, with the target items and their loss weights."""

    items: torch.Tensor  # (B, T)
    kinds: torch.Tensor  # (B, T)
    gaps: torch.Tensor  # (B, T)
    positions: torch.Tensor  # (N,) flat indices into B·T
    targets: torch.Tensor  # (N,)
    weights: torch.Tensor  # (N,) float32


class SequenceBatches:
    """Training windows in length-sorted batches: each batch is cut to its longest window, so
    almost no work is spent on padding.

    A window is the last ``max_len + 1`` items of a sequence; with `full_history`, the earlier
    part of a long sequence is cut into more windows (overlapping by one item) so that every
    item after the first is a target exactly once. A batch is ``(items (B, T), positions (N,),
    targets (N,))``: right-padded inputs, the flat indices into B·T of the positions that have
    a next item, and those next items.

    With `first_targets` (per sequence, the index of its first event that may be a target), the
    earlier events are context only: they are read as inputs but never predicted, and windows
    without a target are left out (an incremental update trains on the events after a cut-off
    while reading the shoppers' whole histories). Use it with `full_history`, so that a long run
    of new events is covered entirely.

    Under torchrun (`world` > 1) every rank computes the same batches and trains on its share
    of each: rows ``rank, rank + world, …`` of the length-sorted batch, so the shares are of
    similar lengths, every rank takes the same number of steps, and the batch the ranks'
    all-reduced gradients stand for is the single process's batch.
    """

    def __init__(
        self, sequences: Sequence[np.ndarray], max_len: int, batch: int, seed: int,
        full_history: bool = False, *, rank: int = 0, world: int = 1,
        first_targets: Sequence[int] | None = None,
    ) -> None:  # fmt: skip
        #: (sequence, start, stop) of every window, in the order of `windows`
        self.bounds: list[tuple[int, int, int]] = []
        #: per window, how many of its first positions are context only (their next item is
        #: not a target)
        self.skips: list[int] = []
        for row, s in enumerate(sequences):
            stop = len(s)
            first = 1 if first_targets is None else max(1, int(first_targets[row]))
            while stop >= 2 and stop > first:
                start = max(0, stop - max_len - 1)
                self.bounds.append((row, start, stop))
                self.skips.append(max(0, first - start - 1))
                stop = stop - max_len if full_history else 0
        self.windows: list[np.ndarray] = [
            np.asarray(sequences[row][start:stop]) for row, start, stop in self.bounds
        ]
        self.batch = batch
        self.seed = seed
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return math.ceil(len(self.windows) / self.batch)

    def epoch(self, index: int) -> Iterator[Batch]:
        """The batches of epoch `index` (see :meth:`order`); this rank's share of each."""
        for rows in self.order(index):
            mine = self.share(rows)
            yield self._collate([self.windows[i] for i in mine], [self.skips[i] for i in mine])

    def order(self, index: int) -> Iterator[np.ndarray]:
        """Window indices of each batch of epoch `index`: shuffle, sort groups of batches by
        length, shuffle the batches (seeded by index)."""
        rng = np.random.default_rng([self.seed, index])
        order = rng.permutation(len(self.windows))
        lengths = np.fromiter((len(w) for w in self.windows), dtype=np.int64)
        group = self.batch * _SORT_GROUP
        for start in range(0, len(order), group):
            part = order[start : start + group]
            order[start : start + group] = part[np.argsort(lengths[part], kind="stable")]
        chunks = [order[i : i + self.batch] for i in range(0, len(order), self.batch)]
        for k in rng.permutation(len(chunks)):
            yield chunks[k]

    def share(self, rows: np.ndarray) -> np.ndarray:
        """This rank's rows of a batch (all of them in a single process); a batch with fewer
        rows than ranks gives the ranks without one its first row again."""
        if self.world == 1:
            return rows
        mine = rows[self.rank :: self.world]
        return mine if len(mine) else rows[:1]

    @staticmethod
    def _collate(windows: list[np.ndarray], skips: list[int]) -> Batch:
        t = max(len(w) for w in windows) - 1
        items = np.zeros((len(windows), t), dtype=np.int64)
        targets = np.zeros((len(windows), t), dtype=np.int64)
        for row, (w, skip) in enumerate(zip(windows, skips, strict=True)):
            items[row, : len(w) - 1] = w[:-1]
            targets[row, skip : len(w) - 1] = w[skip + 1 :]  # 0: no target
        flat = targets.reshape(-1)
        positions = np.flatnonzero(flat)
        return (
            torch.from_numpy(items),
            torch.from_numpy(positions),
            torch.from_numpy(flat[positions]),
        )


class EventBatches:
    """:class:`SequenceBatches`' windows and batch order, each position with its event kind
    and time-gap bucket; a position's target counts with the weight of its kind (0: none).

    Args:
        sequences: per user, item indices.
        kinds: per user, kind codes aligned with `sequences`.
        times: per user, epoch seconds aligned with `sequences` (None: no gaps).
        weights: per kind code, the loss weight of a target of that kind.
        repeat_targets: also train on targets already in the window's earlier events.
        max_len, batch, seed, full_history, rank, world, first_targets: as for
            :class:`SequenceBatches`.
    """

    def __init__(
        self, sequences: Sequence[np.ndarray], kinds: Sequence[np.ndarray],
        times: Sequence[np.ndarray] | None, weights: np.ndarray, max_len: int, batch: int,
        seed: int, full_history: bool = False, repeat_targets: bool = True, *, rank: int = 0,
        world: int = 1, first_targets: Sequence[int] | None = None,
    ) -> None:  # fmt: skip
        self.base = SequenceBatches(
            sequences, max_len, batch, seed, full_history, rank=rank, world=world,
            first_targets=first_targets,
        )  # fmt: skip
        gaps = [
            gap_buckets(None if times is None else times[u], len(s))
            for u, s in enumerate(sequences)
        ]
        self.kinds = [np.asarray(kinds[u][a:b], dtype=np.int64) for u, a, b in self.base.bounds]
        self.gaps = [gaps[u][a:b] for u, a, b in self.base.bounds]
        self.weights: list[np.ndarray] = []
        for window, codes, skip in zip(self.base.windows, self.kinds, self.base.skips, strict=True):
            w = weights[codes[1:]].astype(np.float32)  # weight of each next event
            if not repeat_targets:
                w[_repeats(window)] = 0.0
            w[:skip] = 0.0  # context only
            self.weights.append(w)

    def __len__(self) -> int:
        return len(self.base)

    def epoch(self, index: int) -> Iterator[EventBatch]:
        """The batches of epoch `index`, in :meth:`SequenceBatches.order`."""
        for rows in self.base.order(index):
            yield self._collate(self.base.share(rows))

    def _collate(self, rows: np.ndarray) -> EventBatch:
        t = max(len(self.base.windows[i]) for i in rows) - 1
        shape = (len(rows), t)
        items, kinds, gaps, targets = (np.zeros(shape, dtype=np.int64) for _ in range(4))
        weights = np.zeros(shape, dtype=np.float32)
        for row, i in enumerate(rows):
            w, n = self.base.windows[i], len(self.base.windows[i]) - 1
            items[row, :n], targets[row, :n] = w[:-1], w[1:]
            kinds[row, :n], gaps[row, :n] = self.kinds[i][:-1], self.gaps[i][:-1]
            weights[row, :n] = self.weights[i]
        flat_w = weights.reshape(-1)
        positions = np.flatnonzero(flat_w > 0)
        return EventBatch(
            torch.from_numpy(items), torch.from_numpy(kinds), torch.from_numpy(gaps),
            torch.from_numpy(positions), torch.from_numpy(targets.reshape(-1)[positions]),
            torch.from_numpy(flat_w[positions]),
        )  # fmt: skip


def _repeats(window: np.ndarray) -> np.ndarray:
    """Per next-item position j (0..len-2): whether ``window[j + 1]`` is in ``window[: j + 1]``."""
    _, inverse = np.unique(window, return_inverse=True)
    first = np.full(inverse.max() + 1, len(window))
    np.minimum.at(first, inverse, np.arange(len(window)))
    return first[inverse[1:]] < np.arange(1, len(window))


def event_windows(
    histories: Sequence[np.ndarray], kinds: Sequence[np.ndarray | None],
    times: Sequence[np.ndarray | None], max_len: int, default_kind: int, n_kinds: int,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:  # fmt: skip
    """The last `max_len` events of each history as (items, kind codes, gap buckets); a
    history without kinds reads as `default_kind` throughout.

    Raises:
        ModelError: a kind code is outside 0..n_kinds - 1.
    """
    out = []
    for h, k, t in zip(histories, kinds, times, strict=True):
        codes = np.full(len(h), default_kind, dtype=np.int64) if k is None else np.asarray(k)
        if codes.size and (codes.min() < 0 or codes.max() >= n_kinds):
            raise ModelError(
                f"event kind code {int(codes.max())} outside 0..{n_kinds - 1}; encode kinds "
                "with the model's kind vocabulary (model.kind_codes)"
            )
        gaps = gap_buckets(t, len(h))
        out.append((h[-max_len:], codes[-max_len:].astype(np.int64), gaps[-max_len:]))
    return out
