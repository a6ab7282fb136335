"""Contract every registered Recommender must honour; mix it into a test class per model.

Usage (in ``tests/models/test_<model>.py``)::

    from contract import RecommenderContract

    class TestEASE(RecommenderContract):
        model_class = EASE
        config = {"reg": 1.0}   # small and fast

The mixin fits the model once per test class on :meth:`RecommenderContract.make_data` (a small,
deterministic, block-structured dataset with timestamps); override it for models with other
needs. Every test asserts behaviour with a known answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from cartwise.data.dataset import Dataset
from cartwise.errors import ConfigError, DataError, ModelError, NotFittedError
from cartwise.models.base import Query, Recommender
from cartwise.models.registry import REGISTRY

N_BLOCKS = 3
BLOCK_SIZE = 6
N_USERS = 60


def block_frame(
    n_users: int = N_USERS, n_blocks: int = N_BLOCKS, block: int = BLOCK_SIZE, seed: int = 0
) -> pd.DataFrame:
    """Users that each consume 4 items of one block (user u → block u % n_blocks), in order.

    Item ids are ``"i<k>"`` with block b holding i(b*block) .. i(b*block + block - 1); one
    timestamp per day and user.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        b = u % n_blocks
        items = rng.choice(np.arange(b * block, (b + 1) * block), size=4, replace=False)
        for t, i in enumerate(items):
            rows.append((f"u{u}", f"i{i}", 1_700_000_000 + 86_400 * (u + t)))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


class RecommenderContract:
    """Generic tests over fit / score / recommend / save / load / bad input."""

    model_class: ClassVar[type[Recommender]]
    config: ClassVar[dict[str, Any]] = {}
    #: whether an empty history is answered with the training popularity (set False for a
    #: model with its own cold-start ranking; the list must still be valid)
    cold_start_is_popularity: ClassVar[bool] = True

    def make_data(self) -> Dataset:
        """Small deterministic dataset; override for models that need something else."""
        return Dataset.from_frame(block_frame(), name="blocks")

    def make_model(self, **overrides: Any) -> Recommender:
        return self.model_class({**self.config, **overrides})

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> Dataset:
        return cls.make_data(cls())

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, data: Dataset) -> Recommender:
        return cls.model_class(cls.config).fit(data, rng=0)

    # -- fit / score -----------------------------------------------------------------------
    def test_registered_under_its_name(self) -> None:
        assert REGISTRY[self.model_class.name] is self.model_class

    def test_fit_returns_self(self, data: Dataset) -> None:
        model = self.make_model()
        assert model.fit(data, rng=0) is model
        assert model.items_ == data.items

    def test_score_shape_padding_and_finite(self, fitted: Recommender, data: Dataset) -> None:
        scores = fitted.score(Query(data.sequences[1][:2]))
        assert scores.shape == (data.n_items + 1,)
        assert scores.dtype == np.float32
        assert scores[0] == -np.inf
        assert np.isfinite(scores[1:]).all()

    def test_score_many_matches_score(self, fitted: Recommender, data: Dataset) -> None:
        queries = [Query(data.sequences[u][:3], u) for u in (1, 2, 3, 4)]
        batch = fitted.score_many(queries)
        assert batch.shape == (4, data.n_items + 1)
        for row, q in zip(batch, queries, strict=True):
            np.testing.assert_allclose(row, fitted.score(q), rtol=1e-5, atol=1e-6)

    # -- recommend -------------------------------------------------------------------------
    def test_recommend_k_sorted_and_excluding(self, fitted: Recommender, data: Dataset) -> None:
        history = data.sequences[1]
        recs = fitted.recommend(Query(history), k=5, exclude=history)
        assert len(recs) == 5
        assert not {r.item for r in recs} & set(history.tolist())
        scores = [r.score for r in recs]
        assert scores == sorted(scores, reverse=True)
        assert all(1 <= r.item <= data.n_items for r in recs)

    def test_recommend_k_larger_than_catalog(self, fitted: Recommender, data: Dataset) -> None:
        recs = fitted.recommend(Query.of([1]), k=data.n_items + 10, exclude=[1])
        assert len(recs) == data.n_items - 1

    @pytest.mark.parametrize("k", [0, -3])
    def test_recommend_nonpositive_k_raises(self, fitted: Recommender, k: int) -> None:
        with pytest.raises(ModelError, match="positive"):
            fitted.recommend(Query.of([1]), k=k)

    def test_cold_start_empty_history(self, fitted: Recommender, data: Dataset) -> None:
        recs = fitted.recommend(Query.of([]), k=3)
        assert len(recs) == 3
        assert all(np.isfinite(r.score) for r in recs)
        if not self.cold_start_is_popularity:
            return
        # the most popular item of the training data leads a cold-start list
        counts = data.item_counts.copy()
        counts[0] = -1
        assert recs[0].item in set(np.flatnonzero(counts == counts.max()).tolist())

    # -- persistence -----------------------------------------------------------------------
    def test_save_load_round_trip(self, fitted: Recommender, data: Dataset, tmp_path: Path) -> None:
        fitted.save(tmp_path / "m")
        loaded = self.model_class.load(tmp_path / "m")
        assert loaded.items_ == fitted.items_
        assert loaded.config == fitted.config
        queries = [Query(data.sequences[u]) for u in (1, 2, 5)] + [Query.of([])]
        np.testing.assert_allclose(
            loaded.score_many(queries), fitted.score_many(queries), rtol=1e-6, atol=1e-6
        )

    def test_load_other_model_raises(self, fitted: Recommender, tmp_path: Path) -> None:
        fitted.save(tmp_path / "m")
        other = next(c for c in REGISTRY.values() if c is not self.model_class)
        with pytest.raises(ModelError, match=self.model_class.name):
            other.load(tmp_path / "m")

    # -- bad input -------------------------------------------------------------------------
    def test_empty_dataset_raises(self) -> None:
        empty = Dataset.from_frame(pd.DataFrame({"user_id": [], "item_id": []}), name="empty")
        with pytest.raises(DataError, match="no interactions"):
            self.make_model().fit(empty)

    @pytest.mark.parametrize("bad", [-1, 0, 10_000])
    def test_out_of_range_history_raises(self, fitted: Recommender, bad: int) -> None:
        with pytest.raises(ModelError, match="outside"):
            fitted.score(Query.of([1, bad]))

    def test_not_fitted_raises(self) -> None:
        with pytest.raises(NotFittedError):
            self.make_model().score(Query.of([1]))

    def test_unknown_config_key_raises(self) -> None:
        with pytest.raises(ConfigError, match="no_such_setting"):
            self.model_class({**self.config, "no_such_setting": 1})

    def test_reproducible_with_same_rng(self, data: Dataset) -> None:
        queries = [Query(data.sequences[u]) for u in (1, 2, 3)]
        a = self.make_model().fit(data, rng=7).score_many(queries)
        b = self.make_model().fit(data, rng=7).score_many(queries)
        np.testing.assert_array_equal(a, b)
