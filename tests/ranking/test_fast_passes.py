"""The whole-catalog passes made cheaper give the same results as the plain versions."""

from __future__ import annotations

import numpy as np
import pytest

from cartwise.models.base import Scored
from cartwise.models.base import top_k as plain_top_k
from cartwise.ranking.reasons import (
    FILLER,
    POPULAR,
    Touch,
    because,
    finite_floors,
    reasons_from_scores,
)
from cartwise.ranking.ties import PopularityTies, with_popularity_ties
from cartwise.ranking.topk import top_k

N = 20_001  # above the size where the fast top-k takes over


def _model_row(rng: np.random.Generator, n: int = N) -> np.ndarray:
    """Scores as a model gives them: float32, -inf at the padding index 0."""
    row = rng.normal(size=n).astype(np.float32)
    row[0] = -np.inf
    return row


def _pairs(result: list[Scored]) -> list[tuple[int, float]]:
    return [(s.item, s.score) for s in result]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 10, 20, 60])
def test_top_k_matches_the_full_partition(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    scores = _model_row(rng).astype(np.float64)
    scores[rng.integers(0, N, 2000)] = -np.inf  # unavailable and excluded items
    assert _pairs(top_k(scores, k)) == _pairs(plain_top_k(scores, k))


def test_top_k_orders_ties_by_lower_index_and_skips_minus_inf() -> None:
    scores = np.full(N, -np.inf)
    scores[[50, 7000, 300, 12000]] = 2.0
    scores[[9, 9000]] = 3.0
    scores[100:200] = 1.0
    got = top_k(scores, 8)
    assert [s.item for s in got] == [9, 9000, 50, 300, 7000, 12000, 100, 101]
    assert [s.score for s in got[:2]] == [3.0, 3.0]


def test_top_k_ranks_in_float32_like_the_plain_version() -> None:
    scores = np.zeros(N)
    scores[10] = 1.0 + 1e-12  # equal to 1.0 in float32: index order decides
    scores[5] = 1.0
    assert [s.item for s in top_k(scores, 2)] == [5, 10]
    assert _pairs(top_k(scores, 2)) == _pairs(plain_top_k(scores, 2))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_top_k_falls_back_on_nan_and_inf(bad: float) -> None:
    rng = np.random.default_rng(1)
    scores = _model_row(rng).astype(np.float64)
    scores[123] = bad
    assert _pairs(top_k(scores, 10)) == _pairs(plain_top_k(scores, 10))


def test_top_k_with_fewer_finite_scores_than_k() -> None:
    scores = np.full(N, -np.inf)
    scores[[3, 17000]] = [0.5, 0.7]
    assert _pairs(top_k(scores, 10)) == [(17000, pytest.approx(0.7)), (3, 0.5)]
    assert top_k(np.full(N, -np.inf), 5) == []


@pytest.mark.parametrize("seed", range(5))
def test_prepared_popularity_ties_give_the_same_numbers(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cold = _model_row(rng)
    ties = PopularityTies.of(cold)
    for _ in range(3):
        scores = _model_row(rng)
        scores[1 : N // 2] = 0.0  # ItemKNN-like: many items scored alike
        expected = with_popularity_ties(scores, cold)
        got = ties.apply(scores, cold.copy())
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, expected)
        assert np.argsort(-got, kind="stable")[:50].tolist() == (
            np.argsort(-expected, kind="stable")[:50].tolist()
        )


def test_popularity_ties_fall_back_when_their_row_or_the_scores_differ() -> None:
    rng = np.random.default_rng(3)
    cold = _model_row(rng)
    ties = PopularityTies.of(cold)
    other_cold = _model_row(rng)
    scores = _model_row(rng)
    np.testing.assert_array_equal(
        ties.apply(scores, other_cold), with_popularity_ties(scores, other_cold)
    )
    scores[[5, 900]] = -np.inf  # not finite where the cold row is: min and range change
    np.testing.assert_array_equal(ties.apply(scores, cold), with_popularity_ties(scores, cold))
    many_gaps = cold.copy()
    many_gaps[::100] = -np.inf  # too many runs for the slice path: the masked reductions run
    gaps = PopularityTies.of(many_gaps)
    assert gaps.runs is None
    np.testing.assert_array_equal(
        gaps.apply(scores, many_gaps), with_popularity_ties(scores, many_gaps)
    )


def _plain_floors(rows: np.ndarray) -> np.ndarray:
    return np.array([r[np.isfinite(r)].min(initial=np.inf) for r in rows])


def test_finite_floors_match_the_plain_per_row_minimum() -> None:
    rng = np.random.default_rng(0)
    rows = np.stack([_model_row(rng) for _ in range(6)])
    rows[1, 0] = -5.0  # a finite padding score below the rest
    rows[2, 77] = -np.inf  # -inf past the padding index
    rows[3, 5] = np.nan
    rows[4, 1:] = -np.inf  # no finite score at all
    rows[5, 9] = np.inf
    got = finite_floors(rows)
    expected = _plain_floors(rows)
    assert got.dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    single = rows[:, :1]
    np.testing.assert_array_equal(finite_floors(single), _plain_floors(single))


def _reference_reason(col: np.ndarray, floors: np.ndarray, touches: list[Touch]) -> str:
    """The rule of reasons_from_scores, one column at a time (the version it replaced)."""
    if not np.isfinite(col).all():
        return FILLER
    tol = 1e-6 * max(1.0, float(np.abs(col).max()))
    alone, base = col[:-1], col[-1]
    popular = POPULAR if base > floors[-1] + tol else FILLER
    if col.max() - col.min() <= tol:
        return popular
    best = int(np.argmax(alone))
    if alone.max() - alone.min() > tol or alone[best] > floors[best] + tol:
        return because(touches[best])
    return popular


@pytest.mark.parametrize("seed", range(20))
def test_vectorised_reasons_equal_the_per_item_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_touch, n_items = int(rng.integers(1, 6)), 40
    rows = rng.normal(size=(n_touch + 1, n_items)).astype(np.float32)
    rows[:, rng.integers(0, n_items, 8)] = 0.0  # items no history moves
    rows[:, 0] = -np.inf
    rows[rng.integers(0, n_touch + 1), rng.integers(1, n_items)] = np.nan
    touches = [Touch(i + 1, "view", f"T{i}") for i in range(n_touch)]
    chosen = list(rng.integers(0, n_items, 12))
    floors = finite_floors(rows)
    expected = [_reference_reason(rows[:, j].astype(np.float64), floors, touches) for j in chosen]
    assert reasons_from_scores(rows, touches, chosen) == expected
