"""Training data and training of the ranker's LambdaRank trees.

:func:`hold_out_last` cuts each training sequence's last item off as the ranker's target (the
base models never see it); :func:`train_booster` trains LightGBM's ``lambdarank`` objective on
the shoppers whose target is among their candidates, early-stopped on NDCG@10 of a random share
of them, and keeps the trees up to the best round.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np

from cartwise.data.dataset import Dataset
from cartwise.errors import DataError, ModelError

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeldOut:
    """`data` without each sequence's last item (sequences of two or more items).

    Attributes:
        data: the shortened dataset the base models are fitted on.
        users: user indices whose last item was held out.
        targets: per user index, the held-out item (0 for users without one).
    """

    data: Dataset
    users: np.ndarray
    targets: np.ndarray

    def targets_of(self, users: np.ndarray) -> np.ndarray:
        """Held-out items of `users`."""
        out: np.ndarray = self.targets[users]
        return out


def hold_out_last(data: Dataset) -> HeldOut:
    """Hold out the last item of every sequence with at least two items."""
    sequences: list[np.ndarray] = []
    times: list[np.ndarray] | None = [] if data.timestamps is not None else None
    targets = np.zeros(len(data.sequences), dtype=np.int64)
    for u, seq in enumerate(data.sequences):
        cut = len(seq) - 1 if len(seq) >= 2 else len(seq)
        sequences.append(seq[:cut])
        if times is not None and data.timestamps is not None:
            times.append(data.timestamps[u][:cut])
        if cut < len(seq):
            targets[u] = seq[-1]
    users = np.flatnonzero(targets)
    if not len(users):
        raise DataError(
            f"ranker: no shopper in '{data.name}' has two or more events, so none can teach the "
            "ranker (it holds out each shopper's last event); use a single model for this data"
        )
    held = data.with_sequences(sequences, times, name=f"{data.name}/held-out")
    return HeldOut(held, users, targets)


@dataclass(frozen=True)
class TrainingRows:
    """Candidate rows of the training shoppers.

    Attributes:
        queries: (P,) shopper number (0..n_queries-1), ascending.
        features: (P, F) float32.
        labels: (P,) bool, True for the held-out item.
        n_queries: shoppers in the training set.
    """

    queries: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    n_queries: int

    @classmethod
    def concat(
        cls, parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], n_queries: int
    ) -> TrainingRows:
        """Join (queries, features, labels) chunks built in query order."""
        if not parts:
            return cls(np.zeros(0, np.int64), np.zeros((0, 0), np.float32), np.zeros(0, bool), 0)
        return cls(
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
            n_queries,
        )


@dataclass(frozen=True)
class BoostSettings:
    """LightGBM settings of the ranker (see RankerConfig) and what its candidates are."""

    rounds: int
    early_stopping: int
    eval_share: float
    learning_rate: float
    num_leaves: int
    min_data_in_leaf: int
    feature_fraction: float
    reg: float
    threads: int
    seed: int
    candidates: str  # e.g. "top 50 of ['sasrec', 'ease']", for error messages


def train_booster(
    rows: TrainingRows, names: list[str], cfg: BoostSettings
) -> tuple[lgb.Booster, dict[str, Any]]:
    """LambdaRank trees over `rows`, early-stopped on a random ``eval_share`` of the shoppers.

    Returns:
        The booster cut at its best round, and a summary: candidate recall (share of training
        shoppers whose held-out item is a candidate), rows, best round, held-out NDCG@10.
    """
    has = np.zeros(rows.n_queries, dtype=bool)
    has[rows.queries[rows.labels]] = True
    recall = float(has.mean()) if rows.n_queries else 0.0
    usable = np.flatnonzero(has)
    if len(usable) < 2:
        raise ModelError(
            f"ranker: only {len(usable)} training shoppers have their held-out item among the "
            f"candidates ({cfg.candidates}); raise candidates or add base "
            "models so that the ranker has something to learn from"
        )
    picked = np.random.default_rng([cfg.seed, 2]).choice(
        usable, max(1, round(len(usable) * cfg.eval_share)), replace=False
    )
    keep = has[rows.queries]
    is_eval = np.isin(rows.queries, picked) & keep
    is_train = keep & ~is_eval
    train_set = _dataset(rows, is_train, names)
    eval_set = _dataset(rows, is_eval, names, reference=train_set)
    booster = lgb.train(
        _params(cfg), train_set, num_boost_round=cfg.rounds,
        valid_sets=[eval_set], valid_names=["held"],
        callbacks=[lgb.early_stopping(cfg.early_stopping, verbose=False)],
    )  # fmt: skip
    best = booster.best_iteration or booster.current_iteration()
    kept = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    held_ndcg = float(booster.best_score.get("held", {}).get("ndcg@10", float("nan")))
    summary = {
        "candidate_recall": round(recall, 4), "rows": int(is_train.sum() + is_eval.sum()),
        "best_iteration": int(best), "held_ndcg@10": round(held_ndcg, 4),
    }  # fmt: skip
    _log.info("ranker: %s", summary)
    return kept, summary


def _dataset(
    rows: TrainingRows, mask: np.ndarray, names: list[str], reference: lgb.Dataset | None = None
) -> lgb.Dataset:
    _, sizes = np.unique(rows.queries[mask], return_counts=True)
    return lgb.Dataset(
        rows.features[mask], rows.labels[mask].astype(np.float32), group=sizes,
        feature_name=names, reference=reference, free_raw_data=True,
    )  # fmt: skip


def _params(cfg: BoostSettings) -> dict[str, Any]:
    return {
        "objective": "lambdarank", "metric": "ndcg", "eval_at": [10],
        "learning_rate": cfg.learning_rate, "num_leaves": cfg.num_leaves,
        "min_data_in_leaf": cfg.min_data_in_leaf, "feature_fraction": cfg.feature_fraction,
        "lambda_l2": cfg.reg, "num_threads": cfg.threads, "seed": cfg.seed, "deterministic": True,
        "force_row_wise": True, "verbose": -1,
    }  # fmt: skip
