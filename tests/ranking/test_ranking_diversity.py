"""MMR and category caps on small hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest

from cartwise.errors import InputError
from cartwise.ranking.diversity import (
    Diversity,
    category_cap,
    category_similarity,
    cosine_similarity,
    mmr,
)


def test_category_cap_keeps_order_and_caps() -> None:
    cats = ["shoes", "shoes", "shoes", "socks", "", "", "socks", "hats"]
    assert category_cap(cats, k=5, cap=2) == [0, 1, 3, 4, 5]
    assert category_cap(cats, k=10, cap=1) == [0, 3, 4, 5, 7]


def test_mmr_lambda_one_is_the_relevance_order() -> None:
    rel = np.array([0.9, 0.8, 0.5, 0.1])
    sim = np.ones((4, 4))
    assert mmr(rel, sim, 3, 1.0) == [0, 1, 2]


def test_mmr_skips_a_near_duplicate() -> None:
    # 0 and 1 are the same thing; 2 is different and a little less relevant.
    rel = np.array([1.0, 0.95, 0.8])
    sim = np.array([[1.0, 0.99, 0.0], [0.99, 1.0, 0.0], [0.0, 0.0, 1.0]])
    # scaled relevance: [1, 0.75, 0]; after picking 0, with λ = 0.5:
    # candidate 1: 0.5·0.75 − 0.5·0.99 = −0.06; candidate 2: 0.5·0 − 0.5·0 = 0 → 2 wins.
    assert mmr(rel, sim, 2, 0.5) == [0, 2]
    # λ = 0.9: candidate 1: 0.675 − 0.099 = 0.576 > candidate 2: 0 → 1 wins.
    assert mmr(rel, sim, 2, 0.9) == [0, 1]


def test_similarity_helpers() -> None:
    cos = cosine_similarity(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]))
    assert cos[0, 1] == pytest.approx(1 / np.sqrt(2))
    assert cos[2].tolist() == [0.0, 0.0, 0.0]
    assert category_similarity(["a", "a", "", ""]).tolist() == [
        [1.0, 1.0, 0.0, 0.0],
        [1.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
    ]


def test_diversity_settings_are_validated() -> None:
    with pytest.raises(InputError, match="mmr_lambda"):
        Diversity("mmr", mmr_lambda=1.5)
    with pytest.raises(InputError, match="max_per_category"):
        Diversity("category_cap", max_per_category=0)
