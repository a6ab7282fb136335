"""Incremental update of SASRec (cartwise.models.sasrec_update): grown tables, weights carried
over, and a known answer: a pattern that appears only after the cut-off is learnt while the
old one is kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cartwise.data.dataset import Dataset
from cartwise.data.split import EvalSet
from cartwise.errors import ConfigError, DataError
from cartwise.evaluation.protocol import evaluate
from cartwise.models.base import Query
from cartwise.models.sasrec import SASRec
from cartwise.models.sasrec_batches import SequenceBatches
from cartwise.models.sasrec_update import carry_over, first_targets, row_map, update

CHAINS, LENGTH = 3, 20  # items c{k}x{j}: in chain k, x{j} is followed by x{j+1}
A = "c0x5"  # after the cut-off, A is followed by the new item N, then by c0x6
N = "new"
CUT = 1_000_000.0
SETTINGS = {
    "embedding_size": 32, "num_blocks": 1, "max_len": 12, "epochs": 40, "patience": None,
    "dropout": 0.1, "batch_size": 64, "autoconfig": False, "num_threads": 1, "bf16": False,
}  # fmt: skip


def _item(k: int, j: int) -> str:
    return f"c{k}x{j % LENGTH}"


def _events(users: range, start: float, rng: np.random.Generator, new: bool) -> list[dict]:
    """Each user walks a chain for 8 steps from a random place; with `new`, the walk passes
    through A and N follows A."""
    rows = []
    for u in users:
        k = 0 if new else int(rng.integers(CHAINS))
        j = int(rng.integers(LENGTH)) if not new else int(rng.integers(0, 5))
        walk = [_item(k, j + s) for s in range(8)]
        if new:
            walk = [_item(0, s) for s in range(j, 9)]
            walk.insert(walk.index(A) + 1, N)
        for s, item in enumerate(walk):
            rows.append({"user_id": f"u{u}", "item_id": item, "timestamp": start + 60 * s})
    return rows


@pytest.fixture(scope="module")
def datasets() -> tuple[Dataset, Dataset]:
    rng = np.random.default_rng(0)
    base = _events(range(300), 0.0, rng, new=False)
    later = _events(range(250, 400), CUT + 100, rng, new=True)  # some returning shoppers
    later += _events(range(400, 460), CUT + 100, rng, new=False)  # the old pattern goes on
    before = Dataset.from_frame(pd.DataFrame(base), name="before")
    everything = Dataset.from_frame(pd.DataFrame(base + later), name="all")
    return before, everything


@pytest.fixture(scope="module")
def parent(datasets: tuple[Dataset, Dataset]) -> SASRec:
    return SASRec(SETTINGS).fit(datasets[0], rng=1)


def _evalset(data: Dataset, cases: list[tuple[list[str], str]]) -> EvalSet:
    inputs = [data.items.encode(h) for h, _ in cases]
    targets = [data.items.encode([t]) for _, t in cases]
    return EvalSet(np.arange(len(cases)), inputs, targets)


def _old_cases() -> list[tuple[list[str], str]]:
    return [
        ([_item(k, j - 2), _item(k, j - 1), _item(k, j)], _item(k, j + 1))
        for k in range(CHAINS)
        for j in range(2, LENGTH)
        if _item(k, j) != A
    ]


def test_first_targets_and_batches_train_only_on_new_events() -> None:
    seqs = [np.array([1, 2, 3, 4, 5]), np.array([6, 7])]
    times = [np.array([0.0, 1, 2, 10, 11]), np.array([0.0, 1])]
    data = Dataset.from_frame(
        pd.DataFrame(
            {
                "user_id": ["a"] * 5 + ["b"] * 2,
                "item_id": list("abcdefg"),
                "timestamp": np.concatenate(times),
            }
        )  # fmt: skip
    )
    first = first_targets(data, 5.0)
    assert first == [0, 3, 2]  # padding user, then a (events 3, 4 are new), b (nothing new)
    source = SequenceBatches(seqs, max_len=2, batch=8, seed=0, full_history=True,
                             first_targets=first[1:])  # fmt: skip
    targets = sorted(t for batch in source.epoch(0) for t in batch[2].tolist())
    assert targets == [4, 5]  # every new event once, the earlier ones as context only


def test_update_grows_the_item_table_and_copies_old_rows(
    parent: SASRec, datasets: tuple[Dataset, Dataset]
) -> None:
    data = datasets[1]
    rows = row_map(parent._vocab, data.items)
    net = SASRec(parent.config)._new_net(data.n_items)
    carry_over(parent, SASRec(parent.config), net, data, rows)
    copied = net.state_dict()
    old = parent.net_.state_dict()  # type: ignore[union-attr]
    assert copied["item_emb.weight"].shape[0] == data.n_items + 1 == parent.n_items + 2
    for external in parent._vocab.ids:
        new_row = copied["item_emb.weight"][data.items.index(external)]
        assert torch.equal(new_row, old["item_emb.weight"][parent._vocab.index(external)])
    for key in old:
        if key != "item_emb.weight":
            assert torch.equal(copied[key], old[key]), key
    assert N not in parent._vocab


@pytest.mark.slow
def test_update_learns_the_new_pattern_and_keeps_the_old(
    parent: SASRec, datasets: tuple[Dataset, Dataset]
) -> None:
    data = datasets[1]
    before = parent.net_.item_emb.weight.detach().clone()  # type: ignore[union-attr]
    child = update(parent, data, after=CUT, rng=2)
    assert child.n_items == parent.n_items + 1 and N in child._vocab
    new_cases = [([_item(0, j - 1), A], N) for j in range(1, 5)]
    old_hr = evaluate(child, _evalset(data, _old_cases()), ks=(10,)).metrics["hr@10"]
    new_hr = evaluate(child, _evalset(data, new_cases), ks=(10,)).metrics["hr@10"]
    parent_old = evaluate(parent, _evalset(datasets[0], _old_cases()), ks=(10,)).metrics["hr@10"]
    assert parent_old >= 0.95
    assert new_hr == 1.0
    assert old_hr >= 0.9
    top = child.recommend(Query(data.items.encode([_item(0, 4), A])), k=10)
    assert N in data.items.decode([s.item for s in top])
    assert torch.equal(parent.net_.item_emb.weight, before)  # type: ignore[union-attr]
    assert child.derived_["learning_rate"]["value"] == pytest.approx(3e-4)


def test_update_without_new_events_or_with_shaping_settings_says_why(
    parent: SASRec, datasets: tuple[Dataset, Dataset]
) -> None:
    with pytest.raises(DataError, match="no event after the cut-off"):
        update(parent, datasets[0], after=CUT)
    with pytest.raises(ConfigError, match="embedding_size.*retrain in full"):
        update(parent, datasets[1], after=CUT, settings={"embedding_size": 16})
