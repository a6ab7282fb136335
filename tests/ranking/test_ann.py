"""The faiss item index: recall against exact scoring, filters without loss, the threshold."""

from __future__ import annotations

import numpy as np
import pytest

from cartwise.errors import ConfigError
from cartwise.ranking.ann import AnnPolicy, VectorIndex, default_threshold


def _items(n: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    """(n + 1, dim) item matrix (row 0 padding) with norms that vary, as learnt ones do."""
    rng = np.random.default_rng(seed)
    items = rng.standard_normal((n + 1, dim)) * (0.5 + rng.random((n + 1, 1)))
    items[0] = 0.0
    return items.astype(np.float32)


def _exact(
    items: np.ndarray, q: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> list[int]:
    scores = items @ q
    scores[0] = -np.inf
    if allowed is not None:
        scores[~allowed] = -np.inf
    order = np.argsort(-scores, kind="stable")[:k]
    return [int(i) for i in order if np.isfinite(scores[i])]


@pytest.fixture(scope="module")
def large() -> tuple[np.ndarray, VectorIndex]:
    items = _items(20_000)
    kind = AnnPolicy(threshold=1000).index_kind(20_000, 64)
    assert kind == "hnsw"
    return items, VectorIndex.build(items, kind)


@pytest.mark.slow  # builds an HNSW graph over 20,000 vectors (~5 s)
def test_recall_at_10_against_exact_scoring(large: tuple[np.ndarray, VectorIndex]) -> None:
    items, index = large
    queries = np.random.default_rng(1).standard_normal((200, 64)).astype(np.float32)
    hits = 0
    for q in queries:
        found, scores = index.search(q, 10)
        hits += len(set(found.tolist()) & set(_exact(items, q, 10)))
        np.testing.assert_allclose(scores, items[found] @ q, rtol=1e-5)  # exact scores
        assert list(scores) == sorted(scores, reverse=True)
    assert hits / (10 * len(queries)) >= 0.95


@pytest.mark.slow
def test_a_filter_removing_the_top_candidates_loses_nothing(
    large: tuple[np.ndarray, VectorIndex],
) -> None:
    items, index = large
    rng = np.random.default_rng(2)
    for q in rng.standard_normal((20, 64)).astype(np.float32):
        allowed = rng.random(len(items)) < 0.5
        allowed[_exact(items, q, 300)] = False  # the 300 best items are all filtered out
        found, _ = index.search(q, 10, allowed)
        assert found.tolist() == _exact(items, q, 10, allowed)


def test_filters_without_loss_on_a_small_index() -> None:
    items = _items(3000, dim=16, seed=3)
    index = VectorIndex.build(items, "hnsw")
    rng = np.random.default_rng(4)
    for share in (0.9, 0.3, 0.05, 0.002):  # over-fetch, deeper fetches, exact over the few
        for q in rng.standard_normal((5, 16)).astype(np.float32):
            allowed = rng.random(len(items)) < share
            allowed[_exact(items, q, 50)] = False
            found, scores = index.search(q, 10, allowed)
            expected = _exact(items, q, 10, allowed)
            assert found.tolist() == expected, share
            assert all(allowed[found]) and len(found) == min(10, int(allowed[1:].sum()))
            np.testing.assert_allclose(scores, items[found] @ q, rtol=1e-5)


def test_nothing_allowed_gives_an_empty_answer() -> None:
    items = _items(500, dim=8)
    index = VectorIndex.build(items, "hnsw")
    found, scores = index.search(items[3], 10, np.zeros(len(items), dtype=bool))
    assert found.size == 0 and scores.size == 0


def test_ivf_index_finds_the_exact_top_k_with_its_exact_fallback() -> None:
    items = _items(4000, dim=16, seed=5)
    index = VectorIndex.build(items, "ivf")
    assert index.kind == "ivf" and index.n_items == 4000
    q = np.random.default_rng(6).standard_normal(16).astype(np.float32)
    allowed = np.zeros(len(items), dtype=bool)
    allowed[1:200] = True  # a few items: scored exactly
    assert index.search(q, 10, allowed)[0].tolist() == _exact(items, q, 10, allowed)
    found, _ = index.search(q, 10)
    assert len(found) == 10 and len(set(found.tolist()) & set(_exact(items, q, 10))) >= 5


def test_small_catalogs_are_scored_exactly_and_the_threshold_is_a_setting() -> None:
    policy = AnnPolicy()
    assert default_threshold(64) == 50_000 and default_threshold(128) == 25_000
    assert policy.index_kind(49_999, 64) is None
    assert policy.index_kind(50_000, 64) == "hnsw"
    assert policy.index_kind(3_000_000, 64) == "ivf"
    assert AnnPolicy(threshold=100).index_kind(100, 64) == "hnsw"
    assert AnnPolicy(threshold=100, kind="ivf").index_kind(100, 64) == "ivf"
    assert AnnPolicy(threshold=1, kind="off").index_kind(10**7, 64) is None
    with pytest.raises(ConfigError, match="ann_threshold"):
        AnnPolicy(threshold=0)
