"""ItemKNN: contract, hand-computed cosine with shrinkage, block structure, blockwise compute."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from contract import RecommenderContract, block_frame

from cartwise.data.dataset import Dataset
from cartwise.errors import ModelError
from cartwise.models import itemknn
from cartwise.models.base import Query
from cartwise.models.itemknn import ItemKNN


class TestItemKNNContract(RecommenderContract):
    model_class = ItemKNN
    config = {"k": 10}


def _tiny() -> Dataset:
    # u1 {x, y}, u2 {x, y, z}, u3 {z}: each item has 2 users; co(x,y)=2, co(x,z)=co(y,z)=1.
    frame = pd.DataFrame(
        {"user_id": ["u1", "u1", "u2", "u2", "u2", "u3"], "item_id": list("xyxyzz")}
    )
    return Dataset.from_frame(frame)


def _sims(model: ItemKNN, data: Dataset, item: str) -> dict[str, float]:
    return {
        data.items.decode([s.item])[0]: s.score
        for s in model.similar_items(data.items.index(item), k=5)
    }


def test_cosine_hand_computed() -> None:
    data = _tiny()
    model = ItemKNN({"shrink": 0.0}).fit(data)
    # cos(x,y) = 2 / (sqrt2 * sqrt2) = 1; cos(x,z) = 1 / 2
    assert _sims(model, data, "x") == pytest.approx({"y": 1.0, "z": 0.5})


def test_shrink_hand_computed() -> None:
    data = _tiny()
    model = ItemKNN({"shrink": 2.0}).fit(data)
    # 2 / (2 + 2) and 1 / (2 + 2)
    assert _sims(model, data, "x") == pytest.approx({"y": 0.5, "z": 0.25})


def test_k_limits_neighbours_and_scores_sum_them() -> None:
    data = _tiny()
    model = ItemKNN({"k": 1, "shrink": 0.0}).fit(data)
    assert _sims(model, data, "x") == pytest.approx({"y": 1.0})
    x, y, z = (data.items.index(i) for i in "xyz")
    scores = model.score(Query.of([x, z]))
    # x keeps y (1.0); z keeps one of its two 0.5-neighbours (x or y, lower index on ties)
    assert scores[y] == pytest.approx(1.0 + (0.5 if model.similarity_[z, y] > 0 else 0.0))
    assert model.similarity_.getrow(z).nnz == 1


def test_blocks_recovered() -> None:
    data = Dataset.from_frame(block_frame())
    model = ItemKNN({"k": 10}).fit(data)
    for b in range(3):
        block = [f"i{b * 6 + j}" for j in range(6)]
        history = data.items.encode(block[:2])
        recs = model.recommend(Query(history), k=4, exclude=history)
        assert set(data.items.decode(r.item for r in recs)) == set(block[2:])
        neighbours = model.similar_items(int(history[0]), k=10)
        assert set(data.items.decode(s.item for s in neighbours)) <= set(block)


def test_blockwise_equals_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    data = Dataset.from_frame(block_frame())
    whole = ItemKNN({"k": 3, "shrink": 1.0}).fit(data).similarity_
    monkeypatch.setattr(itemknn, "_BLOCK_ELEMENTS", 2 * (data.n_items + 1))  # 2 rows a block
    pieces = ItemKNN({"k": 3, "shrink": 1.0}).fit(data).similarity_
    assert whole is not None and pieces is not None
    np.testing.assert_allclose(whole.toarray(), pieces.toarray())


def test_similar_items_out_of_range() -> None:
    model = ItemKNN().fit(_tiny())
    with pytest.raises(ModelError, match="outside"):
        model.similar_items(99)
