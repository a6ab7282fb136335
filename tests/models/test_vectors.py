"""Dot-product models: query vectors × item matrix give the model's own scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartwise.data.dataset import Dataset
from cartwise.models.base import Query
from cartwise.models.registry import create
from cartwise.models.vectors import dot_product

SMALL = {
    "als": {"embedding_size": 8, "epochs": 3, "num_threads": 1},
    "bpr": {"embedding_size": 8, "epochs": 3, "num_threads": 1},
    "sasrec": {"embedding_size": 16, "num_blocks": 1, "max_len": 10, "epochs": 1,
               "num_threads": 1, "patience": None},
}  # fmt: skip


def _dataset() -> Dataset:
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{int(i)}") for u in range(40) for i in rng.integers(0, 30, size=8)]
    return Dataset.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]), name="toy")


@pytest.mark.parametrize("name", sorted(SMALL))
def test_query_vectors_times_item_matrix_are_the_scores(name: str) -> None:
    model = create(name, SMALL[name]).fit(_dataset(), rng=0)
    scorer = dot_product(model)
    assert scorer is not None
    queries = [Query.of([1, 2, 3]), Query.of([5]), Query.of([7, 7, 9, 4])]
    vectors = scorer.query_vectors(queries)
    items = scorer.item_matrix()
    assert items.shape[0] == model.n_items + 1 and vectors.shape == (3, items.shape[1])
    expected = model.score_many(queries)[:, 1:]
    np.testing.assert_allclose(vectors @ items[1:].T, expected, rtol=1e-4, atol=1e-4)
    assert not scorer.query_vectors([Query.of([])]).any()  # empty: the popularity row instead


def test_models_without_vectors_are_not_dot_products() -> None:
    model = create("itemknn", {"k": 5}).fit(_dataset(), rng=0)
    assert dot_product(model) is None
