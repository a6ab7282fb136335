"""Cold validation split and the choice of cold-start settings on it, never on test."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from cartwise.data.dataset import Dataset
from cartwise.errors import DataError
from cartwise.evaluation.coldselect import GRID, GridPoint, choose, select_hybrid
from cartwise.evaluation.coldstart import cold_start_split

TINY = {
    "encoder": "hashing-32", "epochs": 2, "embedding_size": 8, "max_len": 5, "num_blocks": 1,
    "batch_size": 16, "bf16": False, "patience": None,
}  # fmt: skip


def ring(last: int = 4) -> Dataset:
    """60 users × 5 events on 40 items; user u's t-th item is (u + t) mod 40, its last one
    (u + `last`) mod 40."""
    rows = [(f"u{u}", f"i{(u + t) % 40}") for u in range(60) for t in range(4)]
    rows += [(f"u{u}", f"i{(u + last) % 40}") for u in range(60)]
    catalog = pd.DataFrame(
        [(f"i{i}", f"item {i} of family {i % 5}") for i in range(40)], columns=["item_id", "title"]
    )
    events = pd.DataFrame(rows, columns=["user_id", "item_id"])
    return Dataset.from_frame(events, catalog, name="ring")


def test_cold_valid_and_cold_test_items_are_disjoint_and_never_trained_on() -> None:
    data = ring()
    split = cold_start_split(data, 0.1, seed=3)
    test_items, valid_items = split.cold_items, split.valid_items
    assert len(test_items) == len(valid_items) == 4
    assert not np.intersect1d(test_items, valid_items).size
    trained = np.concatenate(split.train.sequences)
    assert not np.isin(trained, test_items).any() and not np.isin(trained, valid_items).any()
    assert np.isin(split.test.single_targets(), test_items).all()
    assert np.isin(split.cold_valid.single_targets(), valid_items).all()
    # every user whose validation target (second-to-last item) is a cold validation item
    assert len(split.cold_valid) == sum(
        int(np.isin(s[-2], valid_items)) for s in data.sequences[1:]
    )
    # the validation side never sees a cold test item, as input or as target
    for evalset in (split.cold_valid, split.valid_everyone, split.valid):
        assert not np.isin(np.concatenate(evalset.inputs), test_items).any()
        assert not np.isin(evalset.single_targets(), test_items).any()
    assert not np.isin(np.concatenate(split.valid.inputs), valid_items).any()  # early stopping
    assert len(split.valid_everyone) == 60 - int(np.isin(
        [s[-2] for s in data.sequences[1:]], test_items).sum())  # fmt: skip
    # the test draw is the one without a validation draw: the cold test items did not move
    np.testing.assert_array_equal(
        test_items, cold_start_split(data, 0.1, seed=3, valid_items=()).cold_items
    )


def test_cold_valid_known_answer_and_overlap_refused() -> None:
    data = ring()
    enc = data.items.encode
    split = cold_start_split(data, cold_items=enc(["i4", "i5"]), valid_items=enc(["i3"]))
    # i3 is the validation target ((u + 3) mod 40) of u0 and u40
    assert data.users.decode(split.cold_valid.users) == ["u0", "u40"]
    assert [h.tolist() for h in split.cold_valid.inputs] == [enc(["i0", "i1", "i2"]).tolist()] * 2
    # validation targets i4 (u1, u41) and i5 (u2, u42) are cold test items: not validated on
    assert {"u1", "u2", "u41", "u42"}.isdisjoint(data.users.decode(split.valid_everyone.users))
    assert len(split.valid_everyone) == 56
    with pytest.raises(DataError, match="disjoint"):
        cold_start_split(data, cold_items=enc(["i4"]), valid_items=enc(["i4", "i6"]))


def point(cold: float, everyone: float) -> GridPoint:
    return GridPoint({}, {"ndcg@10": cold}, {"ndcg@10": everyone}, 0.0)


def test_choose_best_cold_valid_above_the_floor() -> None:
    points = [point(0.10, 0.30), point(0.30, 0.20), point(0.20, 0.26), point(0.20, 0.27)]
    assert choose(points) == 1  # no floor: the best cold validation figure
    assert choose(points, floor=0.25) == 2  # 1 costs the others too much; 2 ties 3, first wins
    assert choose(points, floor=0.40) == 0  # none reaches it: the best for everyone


def test_grid_is_small_and_fixed_in_advance() -> None:
    assert (
        len({tuple(sorted((k, v) for k, v in p.items() if k != "cold_boost")) for p in GRID}) == 2
    )
    assert {p["cold_boost"] for p in GRID} == {0.0, 1.0, 2.0}  # 0: no borrowing


def test_selection_reads_validation_only() -> None:
    """Poisoned test targets: the chosen setting and every validation figure stay the same."""
    grid = [{"id_dropout": 0.2, "cold_boost": 0.0}, {"id_dropout": 0.2, "cold_boost": 2.0}]
    honest, poisoned = ring(), ring(last=17)  # every test target differs, nothing else does
    enc = honest.items.encode
    cold, held = enc(["i20", "i21", "i22", "i23"]), enc(["i30", "i31", "i32", "i33"])
    chosen = []
    for data in (honest, poisoned):
        split = cold_start_split(data, cold_items=cold, valid_items=held)
        assert len(split.cold_valid) == 4 and len(split.test)
        split = dataclasses.replace(split, test=None, everyone=None)  # type: ignore[arg-type]
        selection = select_hybrid(split, TINY, grid, floor=0.0, rng=0, ks=(10,))
        assert selection.train_seconds > 0 and selection.record()["selected_on"] == "cold-valid"
        chosen.append(
            (selection.chosen, [(p.cold_valid, p.valid_everyone) for p in selection.points])
        )
        assert selection.model.config.cold_boost == grid[selection.chosen]["cold_boost"]
    assert chosen[0] == chosen[1]
    assert honest.sequences[1][-1] != poisoned.sequences[1][-1]
