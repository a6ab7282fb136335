"""Full-ranking offline evaluation of a model on an :class:`EvalSet`, and validation tuning.

The protocol is the literature's (../shared/BENCHMARKS.md): every item in the catalog is scored,
the items of the user's input history are removed from the candidates, the target's rank is
pessimistic (ties count against the model) and metrics are averaged over users.

Users are scored in batches so memory stays at about ``batch_size × (n_items + 1)`` floats,
whatever the number of users (Beauty: 40k users × 54k items).

Several targets per user (a temporal split: everything bought after the cut; a next-basket
split: the items of the next order, where items bought before stay candidates) are scored as
binary relevance: HR@K = [any target in the top K], Recall@K = hits / min(|T|, K),
NDCG@K = DCG / IDCG over all targets, MRR = 1 / (best rank + 1). With one target all of these
reduce to the usual single-target formulas (see :mod:`cartwise.evaluation.metrics`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from cartwise.data.split import EvalSet, Split
from cartwise.errors import ConfigError, DataError
from cartwise.evaluation import metrics as m
from cartwise.models.base import Query, Recommender

_log = logging.getLogger(__name__)

TOP_N = 10  # list length for coverage and novelty
_BATCH_ELEMENTS = 1 << 25  # scores per batch when batch_size is not given (128 MiB float32)


@dataclass(frozen=True)
class EvalResult:
    """Metrics of one evaluation.

    Attributes:
        metrics: ``hr@K``, ``ndcg@K``, ``recall@K`` for each K, ``mrr``, ``coverage@10``,
            ``novelty@10`` (bits), means over users.
        users: evaluated user indices, in evaluation-set order.
        ranks: per user, the pessimistic 0-based rank of the (best) target.
        target_ranks: per user, the ranks of all targets.
    """

    metrics: dict[str, float]
    users: np.ndarray
    ranks: np.ndarray
    target_ranks: list[np.ndarray]

    def __getitem__(self, key: str) -> float:
        return self.metrics[key]


def evaluate(
    model: Recommender,
    evalset: EvalSet,
    *,
    ks: Sequence[int] = (1, 5, 10, 20),
    batch_size: int | None = None,
    exclude_seen: bool | None = None,
    progress: bool = False,
    popularity: np.ndarray | None = None,
) -> EvalResult:
    """Full-ranking evaluation of `model` on `evalset`.

    Args:
        model: a fitted recommender.
        evalset: users with input histories and held-out targets.
        ks: cut-offs for HR, NDCG and Recall.
        batch_size: users scored at once; default keeps a batch near 2**25 scores.
        exclude_seen: remove each user's input items from the candidates (default: what the
            evaluation set says, True except for next-basket sets).
        progress: show a progress bar.
        popularity: interaction counts per item index for novelty; default counts the items of
            the evaluation inputs (the training histories under leave-last-out).
    """
    n_items = model.n_items
    _check(evalset, n_items, ks)
    if exclude_seen is None:
        exclude_seen = evalset.exclude_seen
    batch = batch_size or max(1, _BATCH_ELEMENTS // (n_items + 1))
    single = all(len(t) == 1 for t in evalset.targets)
    target_ranks: list[np.ndarray] = []
    tops: list[np.ndarray] = []
    starts = range(0, len(evalset), batch)
    for start in tqdm(starts, disable=not progress, desc=f"evaluate {model.name}", unit="batch"):
        stop = min(start + batch, len(evalset))
        inputs = evalset.inputs[start:stop]
        queries = _queries(evalset, start, stop)
        masked = m.mask_scores(model.score_many(queries), inputs if exclude_seen else None)
        targets = evalset.targets[start:stop]
        if single:
            one = m.ranks(masked, np.concatenate(targets).astype(np.int64))
            target_ranks.extend(one.reshape(-1, 1))
        else:
            target_ranks.extend(m.multi_ranks(masked, targets))
        tops.append(_top_n(masked, TOP_N))
    if popularity is None:
        popularity = np.bincount(
            np.concatenate(evalset.inputs).astype(np.int64), minlength=n_items + 1
        )
    best = np.fromiter((r.min() for r in target_ranks), dtype=np.int64, count=len(target_ranks))
    top = np.concatenate(tops)
    metrics = rank_metrics(best, target_ranks, ks, single)
    metrics[f"coverage@{TOP_N}"] = m.coverage(top, n_items)
    metrics[f"novelty@{TOP_N}"] = m.novelty(top, popularity)
    _log.info("%s on %d users: %s", model.name, len(evalset), _fmt(metrics))
    return EvalResult(metrics, np.asarray(evalset.users), best, target_ranks)


def rank_metrics(
    best: np.ndarray, target_ranks: list[np.ndarray], ks: Sequence[int], single: bool
) -> dict[str, float]:
    """HR, NDCG and Recall at each K, and MRR, from the targets' ranks."""
    metrics: dict[str, float] = {}
    for k in ks:
        metrics[f"hr@{k}"] = m.hit_rate(best, k)
        metrics[f"ndcg@{k}"] = m.ndcg(best, k) if single else m.ndcg_multi(target_ranks, k)
        metrics[f"recall@{k}"] = metrics[f"hr@{k}"] if single else m.recall(target_ranks, k)
    metrics["mrr"] = m.mrr(best)
    return metrics


def tune(
    model_name: str,
    split: Split,
    grid: dict[str, list[Any]],
    metric: str = "ndcg@10",
    *,
    base: dict[str, Any] | None = None,
    rng: int = 0,
    ks: Sequence[int] = (1, 5, 10, 20),
    batch_size: int | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Grid search on the VALIDATION set only; the test set is never looked at.

    Args:
        model_name: a name in :data:`cartwise.models.registry.REGISTRY`.
        split: train / valid / test split; training uses ``split.train``, scoring ``split.valid``.
        grid: setting name → values to try (every combination is fitted).
        metric: validation metric to maximise, e.g. ``"ndcg@10"``.
        base: settings shared by every combination.
        rng: seed passed to every fit, so combinations differ only by their settings.
        ks: cut-offs computed for the table.
        batch_size: forwarded to :func:`evaluate`.

    Returns:
        The best full config (base + combination) and one row per combination: its settings,
        every validation metric and ``fit_seconds``, in grid order.
    """
    from cartwise.models.fit import fit  # late: the protocol module is imported by models' tests

    allowed = {f"{n}@{k}" for n in ("hr", "ndcg", "recall") for k in ks}
    allowed |= {"mrr", f"coverage@{TOP_N}", f"novelty@{TOP_N}"}
    if metric not in allowed:
        raise ConfigError(f"unknown tuning metric '{metric}'; choose one of {sorted(allowed)}")
    names = list(grid)
    table: list[dict[str, Any]] = []
    best: tuple[float, dict[str, Any]] | None = None
    for values in itertools.product(*(grid[n] for n in names)):
        combo = dict(zip(names, values, strict=True))
        config = {**(base or {}), **combo}
        fitted = fit(model_name, config, split.train, valid=split.valid, rng=rng)
        result = evaluate(fitted.model, split.valid, ks=ks, batch_size=batch_size)
        table.append({**combo, **result.metrics, "fit_seconds": fitted.seconds})
        if best is None or result[metric] > best[0]:
            best = (result[metric], config)
        del fitted, result  # before the next fit: EASE's weights alone are 4 (n + 1)² bytes
    assert best is not None  # product() of lists yields at least one combination
    return best[1], table


def _queries(evalset: EvalSet, start: int, stop: int) -> list[Query]:
    """Queries of the users at positions start..stop, with input kinds and times if any."""
    kinds, times = evalset.input_kinds, evalset.input_times
    return [
        Query(
            np.asarray(evalset.inputs[i], dtype=np.int64),
            int(evalset.users[i]),
            None if kinds is None else np.asarray(kinds[i], dtype=np.int64),
            None if times is None else np.asarray(times[i], dtype=np.float64),
        )
        for i in range(start, stop)
    ]


def _check(evalset: EvalSet, n_items: int, ks: Sequence[int]) -> None:
    if len(evalset) == 0:
        raise DataError("the evaluation set has no users; check the split")
    if not ks or min(ks) <= 0:
        raise ConfigError(f"ks must be positive cut-offs, got {list(ks)}")
    for pos, t in enumerate(evalset.targets):
        if len(t) == 0 or np.min(t) < 1 or np.max(t) > n_items:
            raise DataError(
                f"evaluation user #{pos} (index {int(evalset.users[pos])}) has targets "
                f"{list(map(int, t))} outside 1..{n_items}; build the split from the "
                "dataset the model was trained on"
            )


def _top_n(masked: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n best candidates per row (0 where fewer than n are finite).

    torch.topk keeps only n indices per row; numpy's argpartition materialises a full int64
    index matrix and was 10× slower on Beauty's 54k items.
    """
    n = min(n, masked.shape[1])
    values, top = torch.topk(torch.from_numpy(masked), n, dim=1)
    out = top.numpy().astype(np.int64)
    out[~np.isfinite(values.numpy())] = 0
    return out


def _fmt(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())
