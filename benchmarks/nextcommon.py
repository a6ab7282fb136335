"""Shared by the next-event benchmarks (nextafter.py, nextevent.py): choose a setting on
validation, rank with the protocol's rules, and count what the top of a ranking holds.

Ranks follow ``cartwise.evaluation.metrics`` (full ranking, ties against the model); the
items of a shopper's input are removed from the candidates unless ``exclude_seen`` is off.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from cartwise.data.dataset import Dataset
from cartwise.data.split import EvalSet
from cartwise.evaluation import metrics as m
from cartwise.evaluation.protocol import evalset_queries
from cartwise.models.base import Recommender
from cartwise.models.registry import create

BATCH = 256  # shoppers scored at once


@dataclass
class Ranked:
    """Per evaluated shopper: the target's 0-based rank and the top-k item indices."""

    ranks: np.ndarray
    top: np.ndarray

    def metrics(self, k: int = 10) -> dict[str, float]:
        """HR@k and NDCG@k (single target)."""
        return {f"hr@{k}": m.hit_rate(self.ranks, k), f"ndcg@{k}": m.ndcg(self.ranks, k)}


def rank(model: Recommender, evalset: EvalSet, *, k: int = 10, exclude_seen: bool = True) -> Ranked:
    """Score every shopper of `evalset` (with input kinds and times), rank their one target."""
    ranks: list[np.ndarray] = []
    tops: list[np.ndarray] = []
    targets = evalset.single_targets()
    for start in range(0, len(evalset), BATCH):
        stop = min(start + BATCH, len(evalset))
        scores = model.score_many(evalset_queries(evalset, start, stop))
        masked = m.mask_scores(scores, evalset.inputs[start:stop] if exclude_seen else None)
        ranks.append(m.ranks(masked, targets[start:stop]))
        tops.append(torch.topk(torch.from_numpy(masked), k, dim=1).indices.numpy())
    return Ranked(np.concatenate(ranks), np.concatenate(tops))


def category_rank(
    model: Recommender, evalset: EvalSet, categories: np.ndarray, n_categories: int
) -> np.ndarray:
    """Per shopper, the 0-based rank of the target item's category when categories are ranked
    by their best item's score (every item a candidate, ties against the model).

    Args:
        categories: per item index, its category code (0..n_categories - 1).
    """
    out: list[np.ndarray] = []
    targets = evalset.single_targets()
    index = torch.from_numpy(categories.astype(np.int64))
    for start in range(0, len(evalset), BATCH):
        stop = min(start + BATCH, len(evalset))
        scores = torch.from_numpy(model.score_many(evalset_queries(evalset, start, stop)))
        scores[:, 0] = -torch.inf
        best = torch.full((stop - start, n_categories), -torch.inf)
        best.scatter_reduce_(1, index.expand(stop - start, -1), scores, reduce="amax")
        target = best[torch.arange(stop - start), index[targets[start:stop]]]
        out.append(((best >= target[:, None]).sum(dim=1) - 1).numpy())
    return np.concatenate(out)


@dataclass
class Choice:
    """The setting chosen on validation, its model, and every setting's validation figures."""

    model: Recommender
    config: dict[str, Any]
    valid: dict[str, float]
    train_seconds: float
    table: list[dict[str, Any]] = field(default_factory=list)


def choose(
    name: str,
    settings: Sequence[dict[str, Any]],
    train: Dataset,
    early_stop: EvalSet | None,
    validate: Callable[[Recommender], dict[str, float]],
    metric: str,
    *,
    rng: int = 0,
    log: Callable[[str], None] = print,
) -> Choice:
    """Fit `name` with each setting on `train` (early stopping on `early_stop`), keep the one
    with the best validation `metric`; the test data is not looked at."""
    best: Choice | None = None
    table: list[dict[str, Any]] = []
    for setting in settings:
        began = time.perf_counter()
        model = create(name, setting).fit(train, rng=rng, valid=early_stop)
        seconds = time.perf_counter() - began
        valid = validate(model)
        epochs = len(getattr(model, "history_", []) or []) or None
        table.append(
            {**setting, **valid, "fit_seconds": round(seconds, 1), "epochs_trained": epochs}
        )
        log(f"  {name} {setting}: {_short(valid)} ({seconds:.0f} s)")
        if best is None or valid[metric] > best.valid[metric]:
            best = Choice(model, dict(setting), valid, seconds)
    assert best is not None
    best.table = table
    return best


def _short(values: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in values.items() if isinstance(v, float))
