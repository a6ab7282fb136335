"""SASRec's attention weights as evidence: the last position's attention over the history."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_sasrec import SUCCESSOR, ids, successor_data

from cartwise.data.dataset import Dataset
from cartwise.errors import ModelError
from cartwise.models.base import Query
from cartwise.models.sasrec import SASRec
from cartwise.models.sasrec_net import Block
from cartwise.ranking.explain import HasAttention, attention_evidence
from cartwise.ranking.reasons import Touch


@pytest.fixture(scope="module")
def trained() -> tuple[Dataset, SASRec]:
    data = successor_data()
    return data, SASRec({**SUCCESSOR, "num_heads": 2}).fit(data, rng=0)


def test_weights_cover_the_history_and_sum_to_one(trained: tuple[Dataset, SASRec]) -> None:
    data, model = trained
    assert isinstance(model, HasAttention)
    history = ids(data, ["i3", "i4", "i5", "i6"])
    weights = model.attention_weights(history)
    assert weights.shape == (4,)
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0, abs=1e-6)
    long = ids(data, [f"i{t % 12}" for t in range(25)])  # longer than max_len = 10
    assert model.attention_weights(long).shape == (SUCCESSOR["max_len"],)
    assert model.attention_weights([]).shape == (0,)
    with pytest.raises(ModelError, match="history indices"):
        model.attention_weights([0, 1])


def test_weights_are_those_the_forward_pass_used(trained: tuple[Dataset, SASRec]) -> None:
    data, model = trained
    history = ids(data, ["i7", "i8", "i9"])
    before = model.score(Query(history))
    net = model.net_
    assert net is not None and not net.training
    block = net.blocks[-1]
    assert isinstance(block, Block)
    seen: list[torch.Tensor] = []
    handle = block.attn.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    with torch.no_grad():
        net(torch.from_numpy(history)[None, :])
    handle.remove()
    x = seen[0]  # (1, T, D): the last block's attention input
    with torch.no_grad():
        per_head = block.attn.weights(x)  # (1, H, T, T)
        _, _, v = block.attn.qkv(x).split(x.shape[-1], dim=2)
        v = v.view(1, 3, 2, -1).transpose(1, 2)  # (1, H, T, D/H)
        y = (per_head @ v).transpose(1, 2).reshape(1, 3, -1)
        assert torch.allclose(block.attn.proj(y), block.attn(x), atol=1e-5)
        assert torch.equal(per_head.triu(1), torch.zeros_like(per_head))  # causal
    assert np.allclose(model.attention_weights(history), per_head.mean(dim=1)[0, -1].numpy())
    assert np.array_equal(model.score(Query(history)), before)  # scoring is unchanged


def test_evidence_names_only_history_items_with_their_weights(
    trained: tuple[Dataset, SASRec],
) -> None:
    data, model = trained
    names = ["i2", "i3", "i2", "i4"]  # i2 twice: its weights add up
    history = ids(data, names)
    touches = [
        Touch(int(i), kind, f"Item {n}")
        for i, n, kind in zip(history, names, ["view", "view", "purchase", "view"], strict=True)
    ]
    weights = model.attention_weights(history)
    evidence = attention_evidence(weights, touches, top=3)
    assert len(evidence) == 3  # three distinct items
    assert {e.title for e in evidence} <= {t.title for t in touches}
    assert all(e.kind == "history" for e in evidence)
    by_title = {e.title: e.weight for e in evidence}
    assert by_title["Item i2"] == pytest.approx(weights[0] + weights[2])
    assert by_title["Item i3"] == pytest.approx(weights[1])
    assert sum(by_title.values()) == pytest.approx(1.0, abs=1e-6)
    assert [e.weight for e in evidence] == sorted(by_title.values(), reverse=True)
    i2 = next(e for e in evidence if e.title == "Item i2")
    assert i2.text == "you bought 'Item i2'"  # the latest event of the item
    assert len(attention_evidence(weights, touches)) == 2  # MAX_HISTORY by default
    # weights for the last positions only: they align with the latest touches
    assert attention_evidence(np.array([1.0]), touches)[0].title == "Item i4"
