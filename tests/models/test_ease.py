"""EASE: contract, hand-computed closed form, block structure, memory refusal."""

from __future__ import annotations

import pandas as pd
import pytest
from contract import RecommenderContract, block_frame

from cartwise.data.dataset import Dataset
from cartwise.errors import ResourceError
from cartwise.models import ease
from cartwise.models.base import Query
from cartwise.models.ease import EASE


class TestEASEContract(RecommenderContract):
    model_class = EASE
    config = {"reg": 10.0}


def test_closed_form_hand_computed() -> None:
    # users {a, b} and {a}: G = [[2,1],[1,1]] + I = [[3,1],[1,2]], P = G⁻¹ = [[2,-1],[-1,3]] / 5
    # B[a,b] = -P[a,b] / P[b,b] = 1/3 ; B[b,a] = -P[b,a] / P[a,a] = 1/2
    data = Dataset.from_frame(pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": list("aba")}))
    model = EASE({"reg": 1.0}).fit(data)
    a, b = data.items.index("a"), data.items.index("b")
    assert model.score(Query.of([a]))[b] == pytest.approx(1 / 3)
    assert model.score(Query.of([b]))[a] == pytest.approx(1 / 2)
    assert model.score(Query.of([a]))[a] == 0.0  # zero diagonal
    assert model.score(Query.of([a, b]))[b] == pytest.approx(1 / 3)


def test_blocks_recovered() -> None:
    data = Dataset.from_frame(block_frame())
    model = EASE({"reg": 10.0}).fit(data)
    for b in range(3):
        block = [f"i{b * 6 + j}" for j in range(6)]
        history = data.items.encode(block[:2])
        recs = model.recommend(Query(history), k=4, exclude=history)
        assert set(data.items.decode(r.item for r in recs)) == set(block[2:])
        similar = model.similar_items(int(history[0]), k=3)
        assert set(data.items.decode(s.item for s in similar)) <= set(block)


def test_refuses_when_memory_is_short(monkeypatch: pytest.MonkeyPatch) -> None:
    data = Dataset.from_frame(block_frame())
    monkeypatch.setattr(ease, "available_memory", lambda: 1000)
    with pytest.raises(ResourceError, match=r"18 items\) needs about 0.0 GiB"):
        EASE().fit(data)


def test_required_memory_formula() -> None:
    assert ease.required_memory(54_542) == 3 * 54_542**2 * 8  # Beauty: ~66 GiB, refused
