"""Next-basket evaluation: Recall@K and NDCG@K over the items of the next order, hand-computed,
with the items bought before left among the candidates."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from cartwise.data.split import next_basket
from cartwise.evaluation.protocol import evaluate
from cartwise.models.sasrec import SASRec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from test_next_basket import shop  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_protocol import TableModel  # noqa: E402


def _table(order: dict[str, list[str]]) -> tuple[np.ndarray, object]:
    """Scores that rank each shopper's items in the given order (first = best), others last."""
    data = shop()
    table = np.zeros((len(data.users), data.n_items + 1), dtype=np.float32)
    table[:, 0] = -np.inf
    for user, items in order.items():
        row = data.users.index(user)
        for position, item in enumerate(items):
            table[row, data.items.index(item)] = 10.0 - position
    return table, data


def test_recall_and_ndcg_over_the_next_basket() -> None:
    # ann's next order is {cup, jam, mug}; cid's is {pen}
    table, data = _table(
        {
            "ann": ["mug", "pen", "cup", "tea", "jam", "pad", "ink"],
            "cid": ["pad", "ink", "tea", "mug", "jam", "cup", "pen"],
        }
    )
    split = next_basket(data)  # type: ignore[arg-type]
    res = evaluate(TableModel(table, data), split.test, ks=(1, 3, 10))  # type: ignore[arg-type]
    # targets in item-index order (mug, jam, cup); seen items stay candidates: ann's tea
    # (bought twice) is ranked 4th, ahead of jam
    assert [r.tolist() for r in res.target_ranks] == [[0, 4, 2], [6]]
    idcg3 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    ann_ndcg3 = (1 + 1 / math.log2(4)) / idcg3
    assert res["recall@3"] == pytest.approx((2 / 3 + 0) / 2)
    assert res["ndcg@3"] == pytest.approx(ann_ndcg3 / 2)
    ann_ndcg10 = (1 + 1 / math.log2(4) + 1 / math.log2(6)) / idcg3
    assert res["ndcg@10"] == pytest.approx((ann_ndcg10 + 1 / math.log2(8)) / 2)
    assert res["recall@10"] == 1.0 and res["hr@1"] == 0.5
    filtered = evaluate(TableModel(table, data), split.test, ks=(3,), exclude_seen=True)
    # with the literature's filter, ann's mug and jam and cid's pen could never be hits
    assert [r.tolist() for r in filtered.target_ranks] == [[7, 7, 1], [7]]


@pytest.mark.slow  # trains a tiny SASRec
def test_sasrec_validation_on_baskets_matches_the_protocol() -> None:
    split = next_basket(shop())
    model = SASRec({"epochs": 2, "embedding_size": 8, "num_blocks": 1, "max_len": 8})
    model.fit(split.train, rng=0, valid=split.valid)
    ours = model.validation_metrics(split.valid)
    protocol = evaluate(model, split.valid, ks=(10,))
    assert ours["ndcg@10"] == pytest.approx(protocol["ndcg@10"], abs=1e-6)
    assert ours["hr@10"] == pytest.approx(protocol["hr@10"], abs=1e-6)
    assert len(model.history_) == 2 and "ndcg@10" in model.history_[0]["metrics"]
