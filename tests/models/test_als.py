"""ALS and BPR (implicit, CPU): contract, fold-in formula, block structure."""

from __future__ import annotations

import numpy as np
import pytest
from contract import RecommenderContract, block_frame

from cartwise.data.dataset import Dataset
from cartwise.models.als import ALS, BPR
from cartwise.models.base import Query, Recommender

ALS_CONFIG = {"embedding_size": 8, "epochs": 15, "reg": 10.0, "alpha": 10.0, "num_threads": 1}
BPR_CONFIG = {"embedding_size": 8, "epochs": 100, "learning_rate": 0.05}


class TestALSContract(RecommenderContract):
    model_class = ALS
    config = ALS_CONFIG


class TestBPRContract(RecommenderContract):
    model_class = BPR
    config = BPR_CONFIG


@pytest.fixture(scope="module")
def blocks() -> Dataset:
    return Dataset.from_frame(block_frame())


@pytest.mark.parametrize("alpha", [1.0, 5.0])
def test_als_fold_in_is_the_least_squares_solution(blocks: Dataset, alpha: float) -> None:
    config = {"embedding_size": 4, "epochs": 5, "reg": 0.5, "alpha": alpha, "num_threads": 1}
    model = ALS(config).fit(blocks, rng=0)
    assert model.item_factors_ is not None
    y = model.item_factors_.astype(np.float64)
    h = np.array([1, 2, 3])
    # (YᵀY + (α − 1) Y_hᵀY_h + λI) x = α Σ_{i∈h} y_i
    a = y.T @ y + (alpha - 1) * y[h].T @ y[h] + 0.5 * np.eye(4)
    x = np.linalg.solve(a, alpha * y[h].sum(axis=0))
    np.testing.assert_allclose(model.score(Query(h))[1:], (y @ x)[1:], atol=1e-5)


def test_bpr_fold_in_is_the_mean_item_factor(blocks: Dataset) -> None:
    model = BPR(BPR_CONFIG).fit(blocks, rng=0)
    assert model.item_factors_ is not None and model.item_bias_ is not None
    y, bias = model.item_factors_, model.item_bias_
    h = np.array([4, 5])
    expected = y @ y[h].mean(axis=0) + bias
    np.testing.assert_allclose(model.score(Query(h))[1:], expected[1:], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("cls", "config"), [(ALS, ALS_CONFIG), (BPR, BPR_CONFIG)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blocks_recovered(
    blocks: Dataset, cls: type[Recommender], config: dict[str, float], seed: int
) -> None:
    model = cls(config).fit(blocks, rng=seed)
    for b in range(3):
        block = [f"i{b * 6 + j}" for j in range(6)]
        history = blocks.items.encode(block[:2])
        recs = model.recommend(Query(history), k=4, exclude=history)
        assert set(blocks.items.decode(r.item for r in recs)) == set(block[2:])
        similar = model.similar_items(int(history[0]), k=3)
        assert set(blocks.items.decode(s.item for s in similar)) <= set(block)
