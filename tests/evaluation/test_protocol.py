"""Protocol: hand-computed evaluation with a fixed-score model, batching, multi-target, tuning."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict

from cartwise.data.dataset import Dataset
from cartwise.data.split import EvalSet, Split, leave_last_out
from cartwise.errors import ConfigError, DataError
from cartwise.evaluation.protocol import evaluate, tune
from cartwise.models.base import Query, Recommender

NEG = -np.inf


class _NoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TableModel(Recommender):
    """Scores looked up by user index in a fixed table (for hand-computed answers)."""

    name: ClassVar[str] = "table"
    config_class: ClassVar[type[BaseModel]] = _NoConfig

    def __init__(self, table: np.ndarray, data: Dataset) -> None:
        super().__init__()
        self.table = table
        self.fit(data)

    def _fit(self, data: Dataset, rng: np.random.Generator, valid: Any) -> None:
        pass

    def _score_histories(self, queries: Sequence[Query]) -> np.ndarray:
        return self.table[[q.user for q in queries]].copy()


def _five_items() -> Dataset:
    frame = pd.DataFrame({"user_id": ["a", "a", "b", "c", "c"], "item_id": list("12345")})
    return Dataset.from_frame(frame)  # items "1".."5" get indices 1..5


TABLE = np.array(
    [
        [NEG, 0, 0, 0, 0, 0],
        [NEG, 0.9, 0.8, 0.7, 0.1, 0.7],  # user 1: input [1], target 3
        [NEG, 0.5, 0.5, 0.5, 0.5, 0.5],  # user 2: input [2], target 4 (all tied)
        [NEG, 0.1, 0.2, 0.3, 0.4, 0.5],  # user 3: input [1, 2], target 2 (seen)
    ],
    dtype=np.float32,
)
EVAL = EvalSet(
    np.array([1, 2, 3]),
    [np.array([1]), np.array([2]), np.array([1, 2])],
    [np.array([3]), np.array([4]), np.array([2])],
)


def test_hand_computed_single_target() -> None:
    res = evaluate(TableModel(TABLE, _five_items()), EVAL, ks=(1, 5))
    assert res.ranks.tolist() == [2, 3, 5]  # ties against; seen target → n_items
    assert res["hr@1"] == 0.0
    assert res["hr@5"] == pytest.approx(2 / 3)
    assert res["recall@5"] == res["hr@5"]
    assert res["ndcg@5"] == pytest.approx((1 / math.log2(4) + 1 / math.log2(5)) / 3)
    assert res["mrr"] == pytest.approx((1 / 3 + 1 / 4 + 1 / 6) / 3)
    # top lists hold every candidate: {2,3,4,5}, {1,3,4,5}, {3,4,5}
    assert res["coverage@10"] == 1.0
    # popularity from the inputs: items 1 and 2 twice, p = 3/9; others p = 1/9
    info_seen, info_new = -math.log2(3 / 9), -math.log2(1 / 9)
    assert res["novelty@10"] == pytest.approx((2 * info_seen + 9 * info_new) / 11)


def test_without_excluding_seen() -> None:
    res = evaluate(TableModel(TABLE, _five_items()), EVAL, ks=(5,), exclude_seen=False)
    assert res.ranks.tolist() == [3, 4, 3]


def test_batches_do_not_change_results() -> None:
    model = TableModel(TABLE, _five_items())
    one = evaluate(model, EVAL, batch_size=1)
    all_ = evaluate(model, EVAL)
    assert one.metrics == all_.metrics
    np.testing.assert_array_equal(one.ranks, all_.ranks)


def test_multi_target() -> None:
    table = TABLE.copy()
    table[1] = [NEG, 0.9, 0.8, 0.7, 0.1, 0.6]
    evalset = EvalSet(np.array([1]), [np.array([1])], [np.array([2, 4])])
    res = evaluate(TableModel(table, _five_items()), evalset, ks=(1, 2))
    assert res.target_ranks[0].tolist() == [0, 3]  # candidates 2 > 3 > 5 > 4
    assert res["hr@1"] == 1.0
    assert res["recall@2"] == pytest.approx(1 / 2)
    assert res["ndcg@2"] == pytest.approx(1.0 / (1 + 1 / math.log2(3)))
    assert res["mrr"] == 1.0


def test_bad_evaluation_sets() -> None:
    model = TableModel(TABLE, _five_items())
    with pytest.raises(DataError, match="no users"):
        evaluate(model, EvalSet(np.array([], dtype=np.int64), [], []))
    bad = EvalSet(np.array([1]), [np.array([1])], [np.array([9])])
    with pytest.raises(DataError, match=r"targets \[9\] outside 1..5"):
        evaluate(model, bad)
    with pytest.raises(ConfigError, match="ks"):
        evaluate(model, EVAL, ks=(0, 10))


def _blocks_split() -> Split:
    rng = np.random.default_rng(0)
    rows = []
    for u in range(30):
        b = u % 3
        for i in rng.choice(6, size=5, replace=False):
            rows.append((f"u{u}", f"i{b * 6 + i}"))
    data = Dataset.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]))
    split = leave_last_out(data)
    # a test set no model can be scored on: tune must never touch it
    poisoned = EvalSet(split.test.users, split.test.inputs, [np.array([999])] * len(split.test))
    return Split(split.train, split.valid, poisoned)


def test_tune_uses_validation_only_and_picks_the_best() -> None:
    best, table = tune("itemknn", _blocks_split(), {"k": [1, 17]}, base={"shrink": 0.0})
    assert [row["k"] for row in table] == [1, 17]
    assert all("ndcg@10" in row and row["fit_seconds"] >= 0 for row in table)
    winner = max(table, key=lambda row: row["ndcg@10"])
    assert best == {"shrink": 0.0, "k": winner["k"]}
    # k=17 keeps every co-consumed item, so the target (in the user's block) is in the top 3
    assert table[1]["hr@10"] == 1.0
    assert table[0]["ndcg@10"] < table[1]["ndcg@10"]


def test_tune_unknown_metric() -> None:
    with pytest.raises(ConfigError, match="unknown tuning metric 'auc'"):
        tune("popularity", _blocks_split(), {}, metric="auc")


def test_evalset_queries_carry_the_inputs_kinds_and_times_of_the_asked_rows() -> None:
    from cartwise.evaluation.protocol import evalset_queries

    inputs = [np.array([1, 2]), np.array([3]), np.array([4, 5, 6])]
    kinds = [np.array([0, 2]), np.array([1]), np.array([0, 0, 1])]
    times = [np.array([10.0, 20.0]), np.array([5.0]), np.array([1.0, 2.0, 3.0])]
    targets = [np.array([7]), np.array([8]), np.array([9])]
    evalset = EvalSet(np.array([4, 0, 2]), inputs, targets, kinds, times)
    queries = evalset_queries(evalset, 1, 3)
    assert [q.user for q in queries] == [0, 2]
    assert [q.history.tolist() for q in queries] == [[3], [4, 5, 6]]
    assert [q.kinds.tolist() for q in queries if q.kinds is not None] == [[1], [0, 0, 1]]
    assert [q.times.tolist() for q in queries if q.times is not None] == [[5.0], [1.0, 2.0, 3.0]]
    bare = evalset_queries(EvalSet(np.array([4]), inputs[:1], targets[:1]), 0, 1)
    assert bare[0].kinds is None and bare[0].times is None
