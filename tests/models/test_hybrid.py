"""Hybrid (text-aware SASRec): contract, cold items ranked like their text twins, persistence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from contract import RecommenderContract
from test_text_model import text_blocks

from cartwise.data.dataset import Dataset
from cartwise.errors import ConfigError
from cartwise.models.base import Query
from cartwise.models.hybrid import Hybrid, HybridNet, TextItemEmbedding
from cartwise.models.sasrec import SASRec
from cartwise.text.encoder import HashingEncoder

TINY: dict[str, Any] = {
    "max_len": 8, "embedding_size": 16, "num_blocks": 1, "epochs": 3, "batch_size": 16,
    "num_threads": 1, "encoder": "hashing-32",
}  # fmt: skip
N_CYCLE = 12
NOUNS = [
    "kettle", "lamp", "drill", "blender", "tent", "helmet",
    "guitar", "scarf", "toaster", "compass", "easel", "kayak",
]  # fmt: skip
SUCCESSOR: dict[str, Any] = {
    "max_len": 10, "embedding_size": 32, "num_blocks": 1, "epochs": 20, "batch_size": 16,
    "learning_rate": 1e-2, "dropout": 0.0, "warmup": 0.0, "num_threads": 1, "patience": None,
    "encoder": "hashing-64", "id_dropout": 0.5,
}  # fmt: skip


class TestHybridContract(RecommenderContract):
    model_class = Hybrid
    config = TINY

    def make_data(self) -> Dataset:
        return text_blocks()


def cycle_with_twin(n_users: int = 80, seed: int = 0) -> Dataset:
    """Users walk i0 → i1 → … → i11 → i0; "new5" (never bought) has i5's exact title and
    "new-x" a title unlike any item."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start, length = rng.integers(0, N_CYCLE), rng.integers(6, 12)
        rows += [(f"u{u}", f"i{(start + t) % N_CYCLE}") for t in range(length)]
    titles = [(f"i{k}", f"camping {NOUNS[k]} deluxe") for k in range(N_CYCLE)]
    titles += [("new5", f"camping {NOUNS[5]} deluxe"), ("new-x", "quantum zebra umbrella")]
    catalog = pd.DataFrame(titles, columns=["item_id", "title"])
    events = pd.DataFrame(rows, columns=["user_id", "item_id"])
    return Dataset.from_frame(events, catalog, name="cycle-text")


@pytest.fixture(scope="module")
def twin() -> tuple[Dataset, Hybrid]:
    data = cycle_with_twin()
    return data, Hybrid(SUCCESSOR).fit(data, rng=0)


def test_cold_twin_is_ranked_like_the_learnt_item(twin: tuple[Dataset, Hybrid]) -> None:
    data, model = twin
    history = data.items.encode(["i2", "i3", "i4"])
    ranked = [r.item for r in model.recommend(Query(history), k=N_CYCLE + 2)]
    names = data.items.decode(ranked)
    assert names[:2] == ["i5", "new5"]  # the learnt successor, then its never-bought twin
    assert names.index("new-x") > 1
    # across every position of the cycle, the twin's rank moves with i5's rank
    ranks: dict[str, list[int]] = {"i5": [], "new5": []}
    for k in range(N_CYCLE):
        hist = data.items.encode([f"i{(k - 2 + j) % N_CYCLE}" for j in range(3)])
        order = data.items.decode([r.item for r in model.recommend(Query(hist), k=N_CYCLE + 2)])
        for name in ranks:
            ranks[name].append(order.index(name))
    assert np.corrcoef(ranks["i5"], ranks["new5"])[0, 1] > 0.8


def test_unseen_items_keep_a_zero_id_embedding(twin: tuple[Dataset, Hybrid]) -> None:
    data, model = twin
    assert isinstance(model.net_, HybridNet)
    items = model.net_.items
    weight, borrowed = items.weight.detach(), items.borrowed
    for name in ("new5", "new-x"):
        assert torch.count_nonzero(weight[data.items.index(name)]) == 0
    assert torch.count_nonzero(weight[data.items.index("i5")]) > 0
    i5, new5, new_x = data.items.encode(["i5", "new5", "new-x"])
    # seen items borrow nothing; the twin borrows (almost only) i5's id embedding, since its
    # title is i5's; the unrelated title borrows less
    seen = torch.from_numpy(model.seen_ if model.seen_ is not None else np.zeros(0, bool))
    assert torch.count_nonzero(borrowed[seen]) == 0
    assert F.cosine_similarity(borrowed[new5], weight[i5], dim=0) > 0.99
    assert borrowed[new_x].norm() < 0.5 * borrowed[new5].norm()
    table = model.item_table()
    np.testing.assert_allclose(
        table[new5], table[i5] - weight[i5].numpy() + borrowed[new5].numpy(), atol=1e-6
    )
    assert [s.item for s in model.similar_items(new5, k=1)] == [i5]


def test_borrowing_keeps_the_neighbours_length_scaled_by_cosine_and_boost() -> None:
    # rows: padding, two seen items with orthogonal ids of length 2, one unseen item whose text
    # is equally close (cos 0.8) to both: the plain weighted mean would have length √2, not 2
    s = 0.6
    text = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.8, 0.8, s]])
    text = F.normalize(text, dim=1)
    cos = float(text[3] @ text[1])
    items = TextItemEmbedding(text, torch.tensor([0.0, 1.0, 1.0, 0.0]), dim=2, id_dropout=0.0)
    with torch.no_grad():
        items.weight.copy_(torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [0.0, 0.0]]))
    items.borrow(neighbours=2, temperature=0.05)
    expected = torch.tensor([1.0, 1.0]) / 2**0.5 * 2.0 * cos  # mean direction, length 2 · cos
    torch.testing.assert_close(items.borrowed[3], expected)
    assert torch.count_nonzero(items.borrowed[:3]) == 0
    items.borrow(neighbours=2, temperature=0.05, boost=1.5)
    torch.testing.assert_close(items.borrowed[3], 1.5 * expected)
    items.borrow(neighbours=0, temperature=0.05)
    assert torch.count_nonzero(items.borrowed) == 0


def test_cold_boost_raises_cold_items_without_retraining(
    twin: tuple[Dataset, Hybrid], tmp_path: Path
) -> None:
    data, model = twin
    new5 = data.items.index("new5")
    query = Query(history=np.asarray(data.items.encode(["i3", "i4"])))
    before = model.score(query)
    rank = lambda scores: int((scores[1:] > scores[new5]).sum())  # noqa: E731
    model.set_cold_boost(3.0)
    try:
        after = model.score(query)
        assert rank(after) <= rank(before)
        assert after[new5] != before[new5]
        seen = np.flatnonzero(model.seen_ if model.seen_ is not None else [])
        np.testing.assert_allclose(after[seen], before[seen], rtol=1e-5, atol=1e-6)
        model.save(tmp_path / "m")
        again = Hybrid.load(tmp_path / "m")
        assert again.config.cold_boost == 3.0
        np.testing.assert_allclose(again.score(query), after, rtol=1e-5, atol=1e-6)
        with pytest.raises(ConfigError, match="cold_boost"):
            model.set_cold_boost(-1.0)
    finally:
        model.set_cold_boost(1.0)
    np.testing.assert_allclose(model.score(query), before, rtol=1e-5, atol=1e-6)


def test_without_borrowing_a_cold_item_is_its_text_projection() -> None:
    data = cycle_with_twin()
    model = Hybrid({**SUCCESSOR, "epochs": 2, "cold_neighbours": 0}).fit(data, rng=0)
    assert isinstance(model.net_, HybridNet)
    weight = model.net_.items.weight.detach()
    assert torch.count_nonzero(model.net_.items.borrowed) == 0
    table = model.item_table()
    i5, new5 = data.items.encode(["i5", "new5"])
    np.testing.assert_allclose(table[new5], table[i5] - weight[i5].numpy(), atol=1e-6)


def test_plain_sasrec_cannot_place_the_cold_twin() -> None:
    data = cycle_with_twin()
    sasrec = {k: v for k, v in SUCCESSOR.items() if k not in ("encoder", "id_dropout")}
    model = SASRec(sasrec).fit(data, rng=0)
    history = data.items.encode(["i2", "i3", "i4"])
    names = data.items.decode([r.item for r in model.recommend(Query(history), k=N_CYCLE + 2)])
    assert names[0] == "i5" and names.index("new5") > 2


def test_round_trip_keeps_text_and_seen_mask(twin: tuple[Dataset, Hybrid], tmp_path: Path) -> None:
    data, model = twin
    model.save(tmp_path / "m")
    loaded = Hybrid.load(tmp_path / "m")
    assert loaded.text_ is not None and model.text_ is not None
    np.testing.assert_array_equal(loaded.text_, model.text_)
    np.testing.assert_array_equal(loaded.seen_, model.seen_)
    queries = [Query(data.items.encode(["i2", "new5"])), Query(data.items.encode(["new-x"]))]
    np.testing.assert_array_equal(loaded.score_many(queries), model.score_many(queries))


def test_injected_encoder_equals_the_named_one() -> None:
    data = text_blocks()
    named = Hybrid(TINY).fit(data, rng=3)
    injected = Hybrid(TINY, encoder=HashingEncoder(32)).fit(data, rng=3)
    q = [Query(data.sequences[1])]
    np.testing.assert_array_equal(named.score_many(q), injected.score_many(q))
    with pytest.raises(ConfigError, match="TextEncoder"):
        Hybrid(TINY, encoder=object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="id_dropout"):
        Hybrid({**TINY, "id_dropout": 1.5})


def test_training_softmax_runs_over_seen_items_only(twin: tuple[Dataset, Hybrid]) -> None:
    data, model = twin
    net = model.net_
    assert isinstance(net, HybridNet)
    net.eval()  # no dropout: the loss is a deterministic function of the weights
    items = torch.from_numpy(data.items.encode(["i1", "i2", "i3"]))[None, :]  # (1, 3)
    targets = torch.from_numpy(data.items.encode(["i2", "i3", "i4"]))
    batch = (items, torch.arange(3), targets)
    with torch.no_grad():
        loss = model._loss(net, batch)
        seen, where = net.items.candidates()
        logits = net(items)[0] @ net.items.table()[seen].t()  # (3, S)
        expected = F.cross_entropy(logits, where[targets])
    assert set(data.items.decode(seen.tolist())) == {f"i{k}" for k in range(N_CYCLE)}
    assert loss.item() == pytest.approx(expected.item(), rel=2e-2)


def test_checkpoint_best_is_a_loadable_hybrid(tmp_path: Path) -> None:
    data = text_blocks()
    model = Hybrid({**TINY, "checkpoint_dir": tmp_path / "ckpt"}).fit(data, rng=0)
    best = Hybrid.load(tmp_path / "ckpt" / "best")
    q = [Query(data.sequences[u]) for u in (1, 2)]
    np.testing.assert_array_equal(best.score_many(q), model.score_many(q))
