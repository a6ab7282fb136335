"""Engagement probabilities, relevance and expected-value ranking, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cartwise.ranking.ads import engagement_probabilities, rank_candidates, relevance_of


def test_probabilities_are_a_softmax_of_standardised_scores() -> None:
    p = engagement_probabilities(np.array([-np.inf, 1.0, 2.0, 3.0]))
    # mean 2, std sqrt(2/3): z = [-1.2247, 0, 1.2247]
    z = np.array([-1.0, 0.0, 1.0]) / math.sqrt(2 / 3)
    expected = np.exp(z) / np.exp(z).sum()
    assert p[0] == 0.0
    assert p[1:] == pytest.approx(expected)
    assert p.sum() == pytest.approx(1.0)


def test_probabilities_do_not_depend_on_score_scale() -> None:
    s = np.array([1.0, 5.0, 2.0])
    assert engagement_probabilities(s) == pytest.approx(engagement_probabilities(100 * s + 7))


def test_equal_scores_give_uniform_probabilities() -> None:
    assert engagement_probabilities(np.array([4.0, 4.0, 4.0, 4.0])) == pytest.approx([0.25] * 4)


def test_relevance_is_the_share_of_items_beaten() -> None:
    s = np.array([-np.inf, 1.0, 2.0, 2.0, 5.0])
    # finite scores sorted: 1, 2, 2, 5 → score 2 beats one of four; 5 beats three; 1 none
    assert relevance_of(s, [2, 4, 1, -1]).tolist() == [0.25, 0.75, 0.0, 0.0]


def test_rank_by_expected_value_above_the_floor() -> None:
    probs = np.array([0.5, 0.1, 0.3])
    rel = np.array([0.9, 0.8, 0.2])
    eligible, below = rank_candidates(probs, rel, [1.0, 10.0, 100.0], 0.5, ["a", "b", "c"])
    # c has the best value (30) but is below the floor; b: 0.1·10 = 1.0 > a: 0.5·1 = 0.5
    assert [a.index for a in eligible] == [1, 0]
    assert eligible[0].expected_value == pytest.approx(1.0)
    assert [a.index for a in below] == [2]
