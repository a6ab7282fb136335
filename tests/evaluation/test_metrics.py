"""Metric functions against hand-computed values, ties included."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cartwise.errors import DataError
from cartwise.evaluation import metrics as m

NEG = -np.inf
# one row, 4 items: item 1 and 3 tie at 0.5
ROW = np.array([[NEG, 0.5, 0.9, 0.5, 0.1]], dtype=np.float32)


@pytest.mark.parametrize(("target", "expected"), [(2, 0), (1, 2), (3, 2), (4, 3)])
def test_ranks_ties_count_against(target: int, expected: int) -> None:
    assert m.ranks(ROW, np.array([target])).tolist() == [expected]


def test_ranks_after_excluding_seen() -> None:
    assert m.ranks(ROW, np.array([1]), [np.array([2])]).tolist() == [1]  # only 3 ties
    assert m.ranks(ROW, np.array([4]), [np.array([1, 2, 3])]).tolist() == [0]


def test_excluded_target_is_a_miss() -> None:
    assert m.ranks(ROW, np.array([2]), [np.array([2])]).tolist() == [4]  # n_items


def test_padding_never_counts_and_nan_is_worst() -> None:
    scores = np.array([[9.0, 0.2, np.nan, 0.1]], dtype=np.float32)
    assert m.ranks(scores, np.array([1])).tolist() == [0]
    assert m.ranks(scores, np.array([2])).tolist() == [3]


def test_ranks_batch() -> None:
    scores = np.vstack([ROW, [[NEG, 0.1, 0.2, 0.3, 0.4]]])
    got = m.ranks(scores, np.array([1, 1]), [np.array([], dtype=np.int64), np.array([4])])
    assert got.tolist() == [2, 2]


def test_multi_ranks_other_targets_count() -> None:
    scores = np.array([[NEG, 0.9, 0.8, 0.7, 0.1]], dtype=np.float32)
    (got,) = m.multi_ranks(scores, [np.array([2, 3])], [np.array([1])])
    assert got.tolist() == [0, 1]


def test_exclude_rows_must_match() -> None:
    with pytest.raises(DataError, match="exclude has 2 rows for 1"):
        m.ranks(ROW, np.array([1]), [np.array([1]), np.array([2])])


def test_hit_rate_ndcg_mrr() -> None:
    ranks = np.array([0, 2, 3, 9])
    assert m.hit_rate(ranks, 3) == 0.5
    assert m.hit_rate(ranks, 1) == 0.25
    assert m.ndcg(ranks, 5) == pytest.approx((1 + 1 / 2 + 1 / math.log2(5)) / 4)
    assert m.ndcg(ranks, 1) == pytest.approx(0.25)
    assert m.mrr(ranks) == pytest.approx((1 + 1 / 3 + 1 / 4 + 1 / 10) / 4)


def test_recall_and_multi_ndcg() -> None:
    lists = [np.array([0, 5]), np.array([7])]
    assert m.recall(lists, 3) == pytest.approx((1 / 2 + 0) / 2)
    assert m.recall([np.array([0, 1, 2, 3])], 2) == 1.0  # divided by min(|T|, K)
    dcg, idcg = 1 + 1 / math.log2(4), 1 + 1 / math.log2(3)
    assert m.ndcg_multi([np.array([0, 2])], 5) == pytest.approx(dcg / idcg)
    assert m.ndcg_multi([np.array([0, 1])], 5) == pytest.approx(1.0)


def test_multi_reduce_to_single_with_one_target() -> None:
    ranks = np.array([0, 2, 3, 9, 40])
    lists = [np.array([r]) for r in ranks]
    for k in (1, 5, 10):
        assert m.ndcg_multi(lists, k) == pytest.approx(m.ndcg(ranks, k))
        assert m.recall(lists, k) == pytest.approx(m.hit_rate(ranks, k))


def test_coverage() -> None:
    assert m.coverage(np.array([[1, 2], [2, 3], [0, 3]]), 5) == pytest.approx(3 / 5)
    with pytest.raises(DataError, match="n_items=0"):
        m.coverage([[1]], 0)


def test_novelty_self_information() -> None:
    counts = np.array([0, 3, 1, 0])  # p = (c + 1) / (4 + 3) = 4/7, 2/7, 1/7
    expected = (-math.log2(4 / 7) - math.log2(1 / 7)) / 2
    assert m.novelty([[1], [3]], counts) == pytest.approx(expected)
    assert m.novelty([[1, 0]], counts) == pytest.approx(-math.log2(4 / 7))  # 0 ignored


def test_empty_inputs() -> None:
    assert m.hit_rate(np.array([]), 10) == 0.0
    assert m.ndcg(np.array([]), 10) == 0.0
    assert m.mrr(np.array([])) == 0.0
