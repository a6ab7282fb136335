"""Train / validation / test splits.

:func:`leave_last_out` is the literature protocol (../shared/BENCHMARKS.md): per user, in
chronological order, the last item is the test target, the one before it the validation target,
the rest is training; users with fewer than 3 interactions keep everything in training.
Validation inputs are the training sequence; test inputs are training + validation target.
:func:`next_basket` is the same cut at the level of orders (baskets): predict the items of a
shopper's next order from their earlier orders.

Inputs carry each event's kind and time along when the dataset has them (the event-aware model
reads them); :func:`next_events` holds out the first event after a cut-off, optionally of given
kinds only (next purchase), for temporal evaluations of what comes next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
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
        input_kinds: per evaluated user, the kind codes of the inputs (None: no kinds).
        input_times: per evaluated user, the epoch seconds of the inputs (None: no times).
        exclude_seen: whether the protocol removes the input items from the candidates (the
            literature's rule for leave-last-out); False where buying an item again is a hit
            (next basket).
    """

    users: np.ndarray
    inputs: list[np.ndarray]
    targets: list[np.ndarray]
    input_kinds: list[np.ndarray] | None = None
    input_times: list[np.ndarray] | None = None
    exclude_seen: bool = True

    def __len__(self) -> int:
        return len(self.users)

    def single_targets(self) -> np.ndarray:
        """Targets as one int64 array; DataError if a user has other than one target."""
        if any(len(t) != 1 for t in self.targets):
            raise DataError("this evaluation set has several targets per user; use targets")
        return np.fromiter((t[0] for t in self.targets), dtype=np.int64, count=len(self.targets))

    def subset(self, rows: Sequence[int] | np.ndarray) -> EvalSet:
        """The evaluated users at positions `rows`, in that order."""
        picked = [int(r) for r in rows]

        def pick(values: list[np.ndarray] | None) -> list[np.ndarray] | None:
            return None if values is None else [values[r] for r in picked]

        return EvalSet(
            np.asarray(self.users)[picked].astype(np.int64),
            [self.inputs[r] for r in picked],
            [self.targets[r] for r in picked],
            pick(self.input_kinds),
            pick(self.input_times),
            self.exclude_seen,
        )

    def only_kinds(self, codes: Sequence[int] | np.ndarray) -> EvalSet:
        """The same users and targets with the input events of kinds `codes` only (what an
        id-only model trained on those kinds reads)."""
        if self.input_kinds is None:
            raise DataError("this evaluation set has no input kinds to select by")
        keep = [np.isin(k, np.asarray(codes)) for k in self.input_kinds]
        times = self.input_times
        return replace(
            self,
            inputs=[i[m] for i, m in zip(self.inputs, keep, strict=True)],
            input_kinds=[k[m] for k, m in zip(self.input_kinds, keep, strict=True)],
            input_times=None if times is None else [t[m] for t, m in zip(times, keep, strict=True)],
        )


@dataclass(frozen=True)
class Split:
    """A training dataset and the evaluation sets held out from it."""

    train: Dataset
    valid: EvalSet
    test: EvalSet


def prefixes(data: Dataset, users: Sequence[int], stops: Sequence[int]) -> EvalSet:
    """An EvalSet without targets yet: each user's first ``stops[i]`` events as input, with
    their kinds and times (targets are empty arrays; fill them with ``replace``)."""
    kinds = times = None
    if data.kinds is not None:
        kinds = [data.kinds[u][:e] for u, e in zip(users, stops, strict=True)]
    if data.timestamps is not None:
        times = [data.timestamps[u][:e] for u, e in zip(users, stops, strict=True)]
    inputs = [data.sequences[u][:e] for u, e in zip(users, stops, strict=True)]
    empty = [np.zeros(0, dtype=np.int64) for _ in users]
    return EvalSet(np.asarray(users, dtype=np.int64), inputs, empty, kinds, times)


def leave_last_out(data: Dataset) -> Split:
    """Leave-one-out split exactly as the literature protocol defines it."""
    lengths = [len(s) for s in data.sequences]
    users = [u for u, n in enumerate(lengths) if n >= 3]
    if not users:
        raise DataError(
            f"dataset '{data.name}' has no user with 3 or more interactions; "
            "leave-last-out needs them"
        )
    cuts = [slice(0, n - 2 if n >= 3 else n) for n in lengths]
    train = data.select(cuts, name=f"{data.name}/train")
    valid = prefixes(data, users, [lengths[u] - 2 for u in users])
    test = prefixes(data, users, [lengths[u] - 1 for u in users])
    valid = replace(valid, targets=[data.sequences[u][-2:-1] for u in users])
    test = replace(test, targets=[data.sequences[u][-1:] for u in users])
    return Split(train, valid, test)


def _cut_seconds(data: Dataset, at: datetime | float) -> float:
    if data.timestamps is None:
        raise DataError(f"dataset '{data.name}' has no timestamps; use leave_last_out instead")
    return to_epoch(at) if isinstance(at, datetime) else float(at)


def events_before(data: Dataset, at: datetime | float) -> Dataset:
    """Every user's events before `at` (DataError without timestamps)."""
    cut = _cut_seconds(data, at)
    assert data.timestamps is not None
    return data.select([t < cut for t in data.timestamps], name=f"{data.name}/before")


def temporal_cut(data: Dataset, at: datetime | float) -> Split:
    """Train on events before `at`; evaluate on later events of users seen before `at`.

    Each evaluated user's targets are the distinct items they interacted with from `at` on that
    were not in their training history. The validation set is a leave-last-out cut of the
    training part (for early stopping), the test set is the future.
    """
    cut = _cut_seconds(data, at)
    assert data.timestamps is not None
    users: list[int] = []
    stops: list[int] = []
    targets: list[np.ndarray] = []
    for u, (seq, ts) in enumerate(zip(data.sequences, data.timestamps, strict=True)):
        before = ts < cut
        future = seq[~before]
        if before.any() and future.size:
            fresh = np.setdiff1d(np.unique(future), seq[before])
            if fresh.size:
                users.append(u)
                stops.append(int(before.sum()))
                targets.append(fresh)
    if not users:
        raise DataError(f"dataset '{data.name}': no user has events on both sides of the cut")
    # sequences are chronological, so "before the cut" is a prefix
    test = replace(prefixes(data, users, stops), targets=targets)
    inner = leave_last_out(events_before(data, cut))
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
    lengths = [len(s) for s in data.sequences]
    users = [u for u, n in enumerate(lengths) if n >= 2]
    if not users:
        raise DataError(
            f"dataset '{data.name}' has no shopper with 2 or more events to hold out; "
            "train without validation (or import more events)"
        )
    train = data.select([slice(0, n - 1 if n >= 2 else n) for n in lengths],
                        name=f"{data.name}/train")  # fmt: skip
    valid = prefixes(data, users, [lengths[u] - 1 for u in users])
    return train, replace(valid, targets=[data.sequences[u][-1:] for u in users])


def _holdout_days(data: Dataset, last_days: float) -> tuple[Dataset, EvalSet]:
    if data.timestamps is None or not data.n_interactions:
        raise DataError(f"dataset '{data.name}' has no timestamps; hold out the latest events")
    newest = max(float(ts.max()) for ts in data.timestamps if len(ts))
    return holdout_from(data, newest - last_days * 86_400.0)


def holdout_from(data: Dataset, cut: float) -> tuple[Dataset, EvalSet]:
    """The events before `cut` (epoch seconds) as training data, and as validation each
    shopper seen before it with the items they turned to from `cut` on that they had not
    touched before (the test set of :func:`temporal_cut`)."""
    if data.timestamps is None:
        raise DataError(f"dataset '{data.name}' has no timestamps; hold out the latest events")
    return events_before(data, cut), temporal_cut(data, cut).test


def basket_starts(times: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Start positions of a chronological sequence's baskets: a new basket begins wherever the
    basket label (or, without labels, the timestamp) differs from the previous event's."""
    keys = labels if labels is not None else times
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.flatnonzero(np.asarray(keys[1:]) != np.asarray(keys[:-1])) + 1
    return np.concatenate([[0], change]).astype(np.int64)


def next_basket(data: Dataset, baskets: list[np.ndarray] | None = None) -> Split:
    """Leave-last-out over orders: each shopper's last basket is the test, the one before the
    validation, the earlier baskets are training; shoppers with fewer than 3 baskets keep
    everything in training.

    A basket is a run of a shopper's events with the same label in `baskets` (per user, aligned
    with ``data.sequences``, e.g. invoice numbers) or, without labels, the same timestamp: the
    lines of an order carry the order's time, as Online Retail's InvoiceDate does. Targets are
    the distinct items of the held-out basket, items bought before included, and the seen
    items stay candidates (``exclude_seen=False``): buying again is a hit, not a miss.
    """
    if data.timestamps is None and baskets is None:
        raise DataError(f"dataset '{data.name}' has no timestamps or basket labels; "
                        "next_basket needs one of them to find the orders")  # fmt: skip
    train: list[np.ndarray] = []
    train_times: list[np.ndarray] | None = [] if data.timestamps is not None else None
    users: list[int] = []
    valid_in, valid_t, test_in, test_t = [], [], [], []
    for u, seq in enumerate(data.sequences):
        times = data.timestamps[u] if data.timestamps is not None else np.zeros(len(seq))
        starts = basket_starts(times, baskets[u] if baskets is not None else None)
        cut = int(starts[-2]) if len(starts) >= 3 else len(seq)
        train.append(seq[:cut])
        if train_times is not None:
            train_times.append(times[:cut])
        if len(starts) >= 3:
            last = int(starts[-1])
            users.append(u)
            valid_in.append(seq[:cut])
            valid_t.append(np.unique(seq[cut:last]))
            test_in.append(seq[:last])
            test_t.append(np.unique(seq[last:]))
    if not users:
        raise DataError(f"dataset '{data.name}' has no shopper with 3 or more baskets; "
                        "next_basket needs them")  # fmt: skip
    u_arr = np.asarray(users, dtype=np.int64)
    history = data.with_sequences(train, train_times, name=f"{data.name}/train")
    valid = EvalSet(u_arr, valid_in, valid_t, exclude_seen=False)
    return Split(history, valid, EvalSet(u_arr, test_in, test_t, exclude_seen=False))


def last_item_context(data: Dataset) -> dict[str, float]:
    """What the leave-last-out test targets are, for the shoppers it evaluates.

    Returns:
        ``same_basket``: share of test targets with the timestamp of the last input item (the
        same order, where an order's lines share its time: "complete the basket");
        ``repeat``: share of test targets already in the input history (removed as seen by the
        protocol, so a miss for every model); ``users``: shoppers evaluated.
    """
    if data.timestamps is None:
        raise DataError(f"dataset '{data.name}' has no timestamps; baskets cannot be told apart")
    same = repeat = users = 0
    for seq, times in zip(data.sequences, data.timestamps, strict=True):
        if len(seq) < 3:
            continue
        users += 1
        same += int(times[-1] == times[-2])
        repeat += int(seq[-1] in seq[:-1])
    if not users:
        raise DataError(f"dataset '{data.name}' has no user with 3 or more interactions")
    return {"same_basket": same / users, "repeat": repeat / users, "users": float(users)}


def next_events(
    data: Dataset,
    at: datetime | float,
    *,
    until: datetime | float | None = None,
    kinds: Sequence[int] | None = None,
    fresh: bool = True,
) -> EvalSet:
    """For every user with events before `at`: input = those events, target = the item of the
    first event in ``[at, until)`` whose kind code is in `kinds` (any kind when None).

    With `fresh`, users whose target item is already in their input are left out (the
    protocol removes seen items from the ranking, so such a target could never be found).
    """
    cut = _cut_seconds(data, at)
    stop = np.inf if until is None else _cut_seconds(data, until)
    assert data.timestamps is not None
    if kinds is not None and data.kinds is None:
        raise DataError(f"dataset '{data.name}' has no event kinds; pass kinds=None")
    users: list[int] = []
    stops: list[int] = []
    targets: list[np.ndarray] = []
    for u, (seq, ts) in enumerate(zip(data.sequences, data.timestamps, strict=True)):
        window = (ts >= cut) & (ts < stop)
        if kinds is not None and data.kinds is not None:
            window &= np.isin(data.kinds[u], np.asarray(kinds))
        n_before = int((ts < cut).sum())
        if not n_before or not window.any():
            continue
        target = seq[int(np.argmax(window))]
        if fresh and (seq[:n_before] == target).any():
            continue
        users.append(u)
        stops.append(n_before)
        targets.append(np.asarray([target], dtype=np.int64))
    if not users:
        raise DataError(f"dataset '{data.name}': no user has a target event after the cut")
    return replace(prefixes(data, users, stops), targets=targets)
