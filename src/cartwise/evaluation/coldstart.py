"""Cold-start protocol: how well are items that were never seen in training recommended?

1. Split leave-last-out as usual (:func:`cartwise.data.split.leave_last_out`).
2. Choose a fraction (default 10%) of the items that have events, at random with a fixed seed:
   the *cold* items. Every one of their events is dropped from the training sequences, so no
   model learns anything about them but what the catalog says (their text).
3. Test on the users whose test target is a cold item, with full ranking and the seen items
   filtered. Their input history is the real one: it may contain other cold items, as a live
   history read from the store would.
3b. Also test on *every* test user (warm and cold targets, in their natural proportion) with
   the same models: a model can always raise its cold-item figures by ranking new items higher,
   and this set shows what that costs everyone else.
4. Validation (early stopping) keeps the users whose validation target is warm, with the cold
   items removed from their inputs: the training view of the world.
5. Cold validation: as many items again, disjoint from the cold test items and drawn with a
   seed of their own, lose their training events too; the users whose *validation* target is
   one of them are the cold validation users (``cold_valid``), and every validation user whose
   target is not a cold test item is ``valid_everyone``. Every cold-start setting (borrowing,
   ``cold_boost``, id dropout) is chosen on these (:mod:`cartwise.evaluation.coldselect`); the
   cold test users are scored once, with the chosen settings. The cold validation items stay
   unseen at test time as well (no refit), so "everyone" there has both kinds of new items.

``random`` is reported as its exact expectation rather than one noisy draw: with C candidates
(catalog minus the seen items) the target's rank is uniform on 0..C−1, so
``E[HR@K] = min(K, C) / C`` and ``E[NDCG@K] = (1/C) Σ_{r < min(K, C)} 1 / log2(r + 2)``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cartwise.data.dataset import Dataset
from cartwise.data.split import EvalSet, leave_last_out
from cartwise.errors import ConfigError, DataError
from cartwise.evaluation.protocol import evaluate
from cartwise.models.base import Recommender

_log = logging.getLogger(__name__)

KS = (1, 5, 10, 20)


@dataclass(frozen=True)
class ColdStartSplit:
    """Training data without the cold items and the evaluation sets of the protocol.

    Attributes:
        train: leave-last-out training sequences with every cold item's events removed (the
            cold test items' and the cold validation items').
        valid: users whose validation target is warm; all cold items removed from their inputs
            (early stopping).
        test: users whose test target is a cold test item; their full history as input.
        cold_items: the cold test item indices, sorted.
        everyone: every test user (warm and cold targets); full histories as input.
        valid_items: the cold validation item indices, sorted; disjoint from `cold_items`.
        cold_valid: users whose validation target is a cold validation item; their history
            before it as input, cold test items removed (the cold-start settings are chosen
            here).
        valid_everyone: every validation user whose target is not a cold test item (warm and
            cold validation targets in their natural proportion); cold test items removed from
            the inputs.
    """

    train: Dataset
    valid: EvalSet
    test: EvalSet
    cold_items: np.ndarray
    everyone: EvalSet
    valid_items: np.ndarray
    cold_valid: EvalSet
    valid_everyone: EvalSet


def choose_cold_items(
    data: Dataset, fraction: float = 0.1, seed: int = 0, *, exclude: Sequence[int] = ()
) -> np.ndarray:
    """``round(fraction × items with events)`` (at least 1) item indices drawn without
    replacement with `seed` from the items with events that are not in `exclude`; sorted."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"cold-start fraction must be in (0, 1), got {fraction}")
    with_events = np.flatnonzero(data.item_counts[1:] > 0) + 1
    candidates = np.setdiff1d(with_events, np.asarray(exclude, dtype=np.int64))
    if len(candidates) < 2:
        raise DataError(f"dataset '{data.name}' has fewer than 2 items with events to draw")
    n = min(max(1, round(fraction * len(with_events))), len(candidates) - 1)
    chosen = np.random.default_rng(seed).choice(candidates, size=n, replace=False)
    return np.sort(chosen).astype(np.int64)


def choose_valid_items(data: Dataset, cold: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The cold validation items: as many as :func:`choose_cold_items` draws, from the items
    with events that are not cold test items, with a seed of their own."""
    return choose_cold_items(data, fraction, seed + 7919, exclude=cold.tolist())


def _items(data: Dataset, items: Sequence[int] | np.ndarray) -> np.ndarray:
    out = np.unique(np.asarray(items, dtype=np.int64))
    if out.size and (out.min() < 1 or out.max() > data.n_items):
        raise DataError(f"cold items must be item indices in 1..{data.n_items}")
    return out


def _rows(evalset: EvalSet, rows: Sequence[int], drop: np.ndarray | None = None) -> EvalSet:
    """`evalset` restricted to `rows`, with the items flagged in `drop` removed from inputs."""
    inputs = [evalset.inputs[i] for i in rows]
    if drop is not None:
        inputs = [h[~drop[h]] for h in inputs]
    users = np.asarray(evalset.users, dtype=np.int64)[np.asarray(rows, dtype=np.int64)]
    return EvalSet(users, inputs, [evalset.targets[i] for i in rows])


def _flags(data: Dataset, items: np.ndarray) -> np.ndarray:
    flags = np.zeros(len(data.items), dtype=bool)
    flags[items] = True
    return flags


def cold_start_split(
    data: Dataset,
    fraction: float = 0.1,
    seed: int = 0,
    *,
    cold_items: Sequence[int] | np.ndarray | None = None,
    valid_items: Sequence[int] | np.ndarray | None = None,
) -> ColdStartSplit:
    """The protocol's split of `data` (see the module docstring).

    Args:
        data: the full dataset (all events, chronological per user).
        fraction: share of the items with events to make cold (test), and as many again for
            the cold validation items.
        seed: seed of the draws of cold items.
        cold_items: item indices to make cold (test) instead of a random draw.
        valid_items: cold validation item indices instead of a random draw (``()``: none).
    """
    cold = (
        choose_cold_items(data, fraction, seed) if cold_items is None else _items(data, cold_items)
    )
    held = (
        choose_valid_items(data, cold, fraction, seed)
        if valid_items is None
        else _items(data, valid_items)
    )
    if np.intersect1d(cold, held).size:
        raise DataError("cold validation items and cold test items must be disjoint")
    is_test, is_held = _flags(data, cold), _flags(data, held)
    is_cold = is_test | is_held
    base = leave_last_out(data)
    keep = [~is_cold[s] for s in base.train.sequences]
    sequences = [s[k] for s, k in zip(base.train.sequences, keep, strict=True)]
    times = base.train.timestamps
    if times is not None:
        times = [t[k] for t, k in zip(times, keep, strict=True)]
    train = base.train.with_sequences(sequences, times, name=f"{data.name}/cold-train")
    targets = base.valid.targets
    valid = _rows(base.valid, [i for i, t in enumerate(targets) if not is_cold[t].any()], is_cold)
    cold_valid = _rows(base.valid, [i for i, t in enumerate(targets) if is_held[t].all()], is_test)
    natural = _rows(base.valid, [i for i, t in enumerate(targets) if not is_test[t].any()], is_test)
    test = _rows(base.test, [i for i, t in enumerate(base.test.targets) if is_test[t].all()])
    if not len(test):
        raise DataError(
            f"dataset '{data.name}': no test target is one of the {cold.size} cold items; "
            "use a larger fraction or another seed"
        )
    _log.info(
        "%s: %d cold test items (%d users), %d cold validation items (%d users), "
        "%d training events dropped",
        data.name, cold.size, len(test), held.size, len(cold_valid),
        base.train.n_interactions - train.n_interactions,
    )  # fmt: skip
    return ColdStartSplit(train, valid, test, cold, base.test, held, cold_valid, natural)


def random_metrics(evalset: EvalSet, n_items: int, ks: Sequence[int] = KS) -> dict[str, float]:
    """Exact expected HR@K and NDCG@K of a uniformly random ranking (seen items filtered;
    a target that was seen counts as a miss, as in :func:`cartwise.evaluation.metrics.ranks`)."""
    hr = {k: 0.0 for k in ks}
    ndcg = {k: 0.0 for k in ks}
    for history, targets in zip(evalset.inputs, evalset.targets, strict=True):
        seen = np.unique(history[history > 0])
        if np.isin(targets, seen).all():
            continue
        candidates = n_items - len(seen)
        for k in ks:
            top = min(k, candidates)
            hr[k] += top / candidates
            ndcg[k] += float(np.sum(1.0 / np.log2(np.arange(top) + 2.0))) / candidates
    n = max(len(evalset), 1)
    out = {f"hr@{k}": hr[k] / n for k in ks}
    out.update({f"ndcg@{k}": ndcg[k] / n for k in ks})
    return out


@dataclass
class ColdStartResult:
    """Cold-start metrics per model.

    Attributes:
        metrics: model name → ``hr@K`` / ``ndcg@K`` on the cold test users.
        train_seconds: model name → fit wall time (0 for ``random``).
        cold_items: number of cold items.
        users: number of cold test users.
        everyone: model name → HR@K / NDCG@K on every test user of the split (and ``random``).
        fitted: model name → the fitted model (for further variants; not reported).
    """

    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    everyone: dict[str, dict[str, float]] = field(default_factory=dict)
    train_seconds: dict[str, float] = field(default_factory=dict)
    cold_items: int = 0
    users: int = 0
    fitted: dict[str, Recommender] = field(default_factory=dict, repr=False)


def evaluate_cold(
    models: Mapping[str, Recommender], split: ColdStartSplit, ks: Sequence[int] = KS
) -> dict[str, dict[str, float]]:
    """HR@K and NDCG@K of fitted models on the cold test users, plus ``random``'s expectation."""
    out = {name: hr_ndcg(model, split.test, ks) for name, model in models.items()}
    out["random"] = random_metrics(split.test, split.train.n_items, ks)
    return out


def hr_ndcg(model: Recommender, evalset: EvalSet, ks: Sequence[int] = KS) -> dict[str, float]:
    """HR@K and NDCG@K of a fitted model on `evalset` (full ranking, seen items filtered)."""
    metrics = evaluate(model, evalset, ks=ks).metrics
    return {k: v for k, v in metrics.items() if k.startswith(("hr@", "ndcg@"))}


def evaluate_everyone(
    model: Recommender, split: ColdStartSplit, ks: Sequence[int] = KS
) -> dict[str, float]:
    """HR@K and NDCG@K of a fitted model on every test user of the split (warm and cold)."""
    return hr_ndcg(model, split.everyone, ks)


def run_cold_start(
    split: ColdStartSplit,
    configs: Mapping[str, Mapping[str, Any]],
    *,
    rng: int = 0,
    ks: Sequence[int] = KS,
) -> ColdStartResult:
    """Fit each registered model name in `configs` on ``split.train`` (early stopping on
    ``split.valid``) and evaluate it on the cold test users; ``random`` is always added."""
    from cartwise.models.fit import fit  # late, as in the protocol's tune

    fitted: dict[str, Recommender] = {}
    result = ColdStartResult(cold_items=int(split.cold_items.size), users=len(split.test))
    for name, config in configs.items():
        began = time.perf_counter()
        fitted[name] = fit(name, dict(config), split.train, valid=split.valid, rng=rng).model
        result.train_seconds[name] = time.perf_counter() - began
    result.metrics = evaluate_cold(fitted, split, ks)
    for name, model in fitted.items():
        result.everyone[name] = evaluate_everyone(model, split, ks)
    result.everyone["random"] = random_metrics(split.everyone, split.train.n_items, ks)
    result.fitted = fitted
    result.train_seconds["random"] = 0.0
    return result
