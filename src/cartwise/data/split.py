"""Train / validation / test splits.

:func:`leave_last_out` is the literature protocol (../shared/BENCHMARKS.md): per user, in
chronological order, the last item is the test target, the one before it the validation target,
the rest is training; users with fewer than 3 interactions keep everything in training.
Validation inputs are the training sequence; test inputs are training + validation target.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from cartwise.data.dataset import Dataset
from cartwise.data.store import to_epoch
from cartwise.errors import DataError


@dataclass(frozen=True)
class EvalSet:
    """Users to evaluate, each with an input history and one or more target items.

    Attributes:
        users: user indices (into the dataset's user vocabulary).
        inputs: per evaluated user, the history the model sees (item indices, oldest first).
        targets: per evaluated user, the held-out item indices (one for leave-last-out).
    """

    users: np.ndarray
    inputs: list[np.ndarray]
    targets: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.users)

    def single_targets(self) -> np.ndarray:
        """Targets as one int64 array; DataError if a user has other than one target."""
        if any(len(t) != 1 for t in self.targets):
            raise DataError("this evaluation set has several targets per user; use targets")
        return np.fromiter((t[0] for t in self.targets), dtype=np.int64, count=len(self.targets))


@dataclass(frozen=True)
class Split:
    """A training dataset and the evaluation sets held out from it."""

    train: Dataset
    valid: EvalSet
    test: EvalSet


def leave_last_out(data: Dataset) -> Split:
    """Leave-one-out split exactly as the literature protocol defines it."""
    train_seqs: list[np.ndarray] = []
    train_times: list[np.ndarray] | None = [] if data.timestamps is not None else None
    users: list[int] = []
    valid_in: list[np.ndarray] = []
    valid_t: list[np.ndarray] = []
    test_in: list[np.ndarray] = []
    test_t: list[np.ndarray] = []
    for u, seq in enumerate(data.sequences):
        cut = len(seq) - 2 if len(seq) >= 3 else len(seq)
        train_seqs.append(seq[:cut])
        if train_times is not None and data.timestamps is not None:
            train_times.append(data.timestamps[u][:cut])
        if len(seq) >= 3:
            users.append(u)
            valid_in.append(seq[:-2])
            valid_t.append(seq[-2:-1])
            test_in.append(seq[:-1])
            test_t.append(seq[-1:])
    if not users:
        raise DataError(
            f"dataset '{data.name}' has no user with 3 or more interactions; "
            "leave-last-out needs them"
        )
    u_arr = np.asarray(users, dtype=np.int64)
    train = data.with_sequences(train_seqs, train_times, name=f"{data.name}/train")
    return Split(train, EvalSet(u_arr, valid_in, valid_t), EvalSet(u_arr, test_in, test_t))


def temporal_cut(data: Dataset, at: datetime | float) -> Split:
    """Train on events before `at`; evaluate on later events of users seen before `at`.

    Each evaluated user's targets are the distinct items they interacted with from `at` on that
    were not in their training history. The validation set is a leave-last-out cut of the
    training part (for early stopping), the test set is the future.
    """
    if data.timestamps is None:
        raise DataError(f"dataset '{data.name}' has no timestamps; use leave_last_out instead")
    cut = to_epoch(at) if isinstance(at, datetime) else float(at)
    past: list[np.ndarray] = []
    past_t: list[np.ndarray] = []
    users: list[int] = []
    test_in: list[np.ndarray] = []
    test_t: list[np.ndarray] = []
    for u, (seq, ts) in enumerate(zip(data.sequences, data.timestamps, strict=True)):
        before = ts < cut
        past.append(seq[before])
        past_t.append(ts[before])
        future = seq[~before]
        if before.any() and future.size:
            fresh = np.setdiff1d(np.unique(future), seq[before])
            if fresh.size:
                users.append(u)
                test_in.append(seq[before])
                test_t.append(fresh)
    if not users:
        raise DataError(f"dataset '{data.name}': no user has events on both sides of the cut")
    history = data.with_sequences(past, past_t, name=f"{data.name}/before")
    inner = leave_last_out(history)
    test = EvalSet(np.asarray(users, dtype=np.int64), test_in, test_t)
    return Split(inner.train, inner.valid, test)


def holdout_recent(data: Dataset, last_days: float | None = None) -> tuple[Dataset, EvalSet]:
    """Training data and a validation set from a shop's own events, for early stopping and for
    the validation metrics a trained version records.

    Without `last_days`, each shopper with 2 or more interactions has their most recent one held
    out (leave-last-out without a test target). With `last_days`, the events of the last
    `last_days` days before the newest event are held out: each shopper seen before that cut is
    evaluated on the items they turned to after it that they had not touched before.
    """
    if last_days is not None:
        return _holdout_days(data, last_days)
    seqs, times, users, inputs, targets = [], [], [], [], []
    for u, seq in enumerate(data.sequences):
        cut = len(seq) - 1 if len(seq) >= 2 else len(seq)
        seqs.append(seq[:cut])
        if data.timestamps is not None:
            times.append(data.timestamps[u][:cut])
        if len(seq) >= 2:
            users.append(u)
            inputs.append(seq[:-1])
            targets.append(seq[-1:])
    if not users:
        raise DataError(
            f"dataset '{data.name}' has no shopper with 2 or more events to hold out; "
            "train without validation (or import more events)"
        )
    train = data.with_sequences(
        seqs, times if data.timestamps is not None else None, name=f"{data.name}/train"
    )
    return train, EvalSet(np.asarray(users, dtype=np.int64), inputs, targets)


def _holdout_days(data: Dataset, last_days: float) -> tuple[Dataset, EvalSet]:
    if data.timestamps is None or not data.n_interactions:
        raise DataError(f"dataset '{data.name}' has no timestamps; hold out the latest events")
    newest = max(float(ts.max()) for ts in data.timestamps if len(ts))
    cut = newest - last_days * 86_400.0
    test = temporal_cut(data, cut).test
    keep = [ts < cut for ts in data.timestamps]
    before = data.with_sequences(
        [seq[m] for seq, m in zip(data.sequences, keep, strict=True)],
        [ts[m] for ts, m in zip(data.timestamps, keep, strict=True)],
        name=f"{data.name}/train",
    )
    return before, test
