"""Ranker candidates and features, computed by hand on a five-item catalog."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartwise.data.dataset import Dataset
from cartwise.models.ranker_features import FeatureSpec, TextInputs, build
from cartwise.models.ranker_stats import ItemStats, bitsets

INF = -np.inf


def _stats() -> ItemStats:
    """Items 1..5: sequences 1→2→3 and 2→3, 4; categories {x}, {x, y}, {y}, {z}, {}; prices."""
    frame = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "b", "c"],
            "item_id": ["i1", "i2", "i3", "i2", "i3", "i4"],
            "timestamp": [0, 10, 20, 30, 40, 50],
        }
    )
    items = pd.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(1, 6)],
            "category": [["x"], ["x", "y"], ["y"], ["z"], []],
            "price": [10.0, 20.0, 40.0, None, 5.0],
        }
    )
    data = Dataset.from_frame(frame, items)
    assert data.items.ids == [f"i{i}" for i in range(1, 6)]
    return ItemStats.of(data, trend_days=30 / 86_400, trend_positions=1)


def test_item_stats_counts_trend_transitions_groups_price() -> None:
    stats = _stats()
    np.testing.assert_array_equal(stats.counts, [0, 1, 2, 2, 1, 0])
    np.testing.assert_array_equal(stats.recent, [0, 0, 1, 2, 1, 0])  # timestamps ≥ 20
    assert stats.transitions[2, 3] == 2 and stats.transitions[1, 2] == 1
    assert stats.transitions.sum() == 3
    assert list(stats.groups) == ["category"]
    words = stats.groups["category"]
    assert words.shape == (6, 1)
    assert bool(words[1, 0] & words[2, 0]) and not bool(words[1, 0] & words[3, 0])
    assert stats.price is not None
    np.testing.assert_array_equal(np.isnan(stats.price), [True, False, False, False, True, False])


def test_stats_round_trip_through_arrays() -> None:
    stats = _stats()
    back = ItemStats.from_arrays(stats.arrays("s_"), "s_")
    np.testing.assert_array_equal(back.counts, stats.counts)
    assert (back.transitions != stats.transitions).nnz == 0
    np.testing.assert_array_equal(back.groups["category"], stats.groups["category"])


def test_bitsets_span_several_words() -> None:
    labels = [f"c{k}" for k in range(70)]
    words = bitsets([[], ["c0"], ["c69"], ["c0", "c69"]], labels, 4)
    assert words.shape == (4, 2)
    assert words[3, 0] == 1 and words[3, 1] == np.uint64(1) << np.uint64(5)


def test_candidates_ranks_sentinel_and_features() -> None:
    stats = _stats()
    spec = FeatureSpec(("a", "b"), candidates=2, window=3, text=True, groups=("category",),
                       price=True)  # fmt: skip
    # one shopper with history [1, 2]; a prefers 3 > 4 > 5, b prefers 5 > 3 > 4
    scores = {
        "a": np.array([[INF, 9.0, 8.0, 3.0, 2.0, 1.0]]),
        "b": np.array([[INF, 9.0, 9.0, 0.5, 0.1, 0.9]]),
    }
    vectors = np.zeros((6, 2))
    vectors[1], vectors[2], vectors[3], vectors[5] = [1, 0], [0, 1], [0.6, 0.8], [1, 0]
    text = TextInputs(vectors, np.array([[0.0, 1.0]]))
    out = build(spec, [np.array([1, 2])], scores, stats, text)
    assert out.rows.tolist() == [0, 0, 0] and out.items.tolist() == [3, 4, 5]
    f = dict(zip(spec.names(), out.features.T, strict=True))
    np.testing.assert_array_equal(f["a_rank"], [0, 1, 2])  # 5 is not in a's top 2: sentinel
    np.testing.assert_array_equal(f["b_rank"], [1, 2, 0])
    np.testing.assert_allclose(f["a_gap"], [0, 1, 2])
    np.testing.assert_allclose(f["b_score"], [0.5, 0.1, 0.9])
    np.testing.assert_array_equal(f["n_sources"], [2, 1, 1])
    np.testing.assert_allclose(f["hist_len"], np.log1p(2))
    np.testing.assert_allclose(f["trans_last"], [2, 0, 0])  # 2 → 3 twice
    np.testing.assert_allclose(f["trans_share"], [1, 0, 0])
    np.testing.assert_allclose(f["text_last"], [0.8, 0, 0])  # cosine with item 2
    np.testing.assert_allclose(f["text_max"], [0.8, 0, 1])  # item 5 = item 1's vector
    np.testing.assert_array_equal(f["text_max_gap"], [0, 0, 1])
    np.testing.assert_array_equal(f["category_last"], [1, 0, 0])  # 3 and 2 share y
    np.testing.assert_allclose(f["category_share"], [0.5, 0, 0])
    np.testing.assert_array_equal(f["category_gap"], [0, 3, 3])  # 3 = none in the window
    np.testing.assert_allclose(f["price_ratio"], [40 / 15, np.nan, 5 / 15], rtol=1e-6)
    np.testing.assert_allclose(f["pop_log"], np.log1p([2, 1, 0]), rtol=1e-6)


def test_text_features_need_vectors() -> None:
    spec = FeatureSpec(("a",), 1, 2, text=True, groups=(), price=False)
    with pytest.raises(ValueError, match="item vectors"):
        build(spec, [np.array([1])], {"a": np.array([[INF, 1.0, 2.0]])}, _stats())
