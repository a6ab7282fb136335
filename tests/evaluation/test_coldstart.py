"""Cold-start protocol on a hand-made dataset with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cartwise.data.dataset import Dataset
from cartwise.errors import ConfigError, DataError
from cartwise.evaluation.coldstart import (
    choose_cold_items,
    cold_start_split,
    evaluate_cold,
    random_metrics,
    run_cold_start,
)
from cartwise.models.popularity import Popularity
from cartwise.models.text import ContentModel

SEQUENCES = {
    "u1": "a b c d",  # train a b, valid c, test d
    "u2": "b c d",  # train b, valid c, test d
    "u3": "a d c",  # train a, valid d, test c
    "u4": "e f g",  # train e, valid f, test g
    "u5": "a b",  # too short: all training
}
TITLES = {
    "a": "red apple", "b": "green banana", "c": "desk lamp", "d": "desk lamp shade",
    "e": "blue kettle", "f": "tea cup", "g": "sugar bowl", "h": "oak table", "i": "iron pan",
    "j": "jute rug",
}  # fmt: skip


def hand_made() -> Dataset:
    rows = [(u, i) for u, seq in SEQUENCES.items() for i in seq.split()]
    events = pd.DataFrame(rows, columns=["user_id", "item_id"])
    catalog = pd.DataFrame(list(TITLES.items()), columns=["item_id", "title"])
    return Dataset.from_frame(events, catalog, name="hand")


def idx(data: Dataset, names: str) -> list[int]:
    return data.items.encode(names.split()).tolist()


def test_split_drops_cold_events_and_keeps_cold_targets() -> None:
    data = hand_made()
    split = cold_start_split(data, cold_items=idx(data, "d"), valid_items=())
    assert split.cold_items.tolist() == idx(data, "d")
    train = {data.users.decode([u])[0]: s.tolist() for u, s in enumerate(split.train.sequences)}
    assert train == {
        "<pad>": [], "u1": idx(data, "a b"), "u2": idx(data, "b"), "u3": idx(data, "a"),
        "u4": idx(data, "e"), "u5": idx(data, "a b"),
    }  # fmt: skip
    assert split.train.item_counts[idx(data, "d")[0]] == 0
    assert split.train.n_items == data.n_items  # cold items stay in the catalog
    # test: only the users whose test target is cold, with their full history
    assert data.users.decode(split.test.users) == ["u1", "u2"]
    assert [t.tolist() for t in split.test.inputs] == [idx(data, "a b c"), idx(data, "b c")]
    assert split.test.single_targets().tolist() == idx(data, "d d")
    # valid: warm targets only (u3's is d), cold items out of the inputs
    assert data.users.decode(split.valid.users) == ["u1", "u2", "u4"]
    assert split.valid.single_targets().tolist() == idx(data, "c c f")
    # everyone: every test user, warm or cold target, full history
    assert data.users.decode(split.everyone.users) == ["u1", "u2", "u3", "u4"]
    assert split.everyone.single_targets().tolist() == idx(data, "d d c g")
    assert [t.tolist() for t in split.everyone.inputs][2:] == [idx(data, "a d"), idx(data, "e f")]


def test_popularity_and_random_known_answers() -> None:
    data = hand_made()
    split = cold_start_split(data, cold_items=idx(data, "d"), valid_items=())
    pop = Popularity().fit(split.train)
    table = evaluate_cold({"popularity": pop}, split, ks=(5, 10))
    # u1: candidates d e f g h i j, only e scores > 0, d ties with the 5 others at 0 → rank 6
    # u2: candidates a d e f g h i j, a and e score > 0 → rank 7
    assert table["popularity"]["hr@5"] == 0.0
    assert table["popularity"]["hr@10"] == 1.0
    expected = (1 / math.log2(8) + 1 / math.log2(9)) / 2
    assert table["popularity"]["ndcg@10"] == pytest.approx(expected)
    # random: 7 and 8 candidates
    assert table["random"]["hr@5"] == pytest.approx((5 / 7 + 5 / 8) / 2)
    assert table["random"]["hr@10"] == pytest.approx(1.0)
    dcg5 = sum(1 / math.log2(r + 2) for r in range(5))
    assert table["random"]["ndcg@5"] == pytest.approx((dcg5 / 7 + dcg5 / 8) / 2)


def test_random_expectation_matches_simulation() -> None:
    data = hand_made()
    split = cold_start_split(data, cold_items=idx(data, "d"), valid_items=())
    rng = np.random.default_rng(0)
    hits = []
    for history, target in zip(split.test.inputs, split.test.single_targets(), strict=True):
        candidates = np.setdiff1d(np.arange(1, data.n_items + 1), history)
        for _ in range(4000):
            hits.append(target in rng.permutation(candidates)[:3])
    expected = random_metrics(split.test, data.n_items, ks=(3,))["hr@3"]
    assert np.mean(hits) == pytest.approx(expected, abs=0.02)
    assert expected == pytest.approx((3 / 7 + 3 / 8) / 2)


def test_content_finds_the_cold_item_by_its_text() -> None:
    data = hand_made()
    split = cold_start_split(data, cold_items=idx(data, "d"), valid_items=())
    content = ContentModel({"encoder": "hashing-64"}).fit(split.train)
    table = evaluate_cold({"content": content}, split, ks=(1,))
    assert table["content"] == {"hr@1": 1.0, "ndcg@1": 1.0}  # "desk lamp" → "desk lamp shade"


def test_run_cold_start_fits_on_the_cold_training_data() -> None:
    data = hand_made()
    split = cold_start_split(data, cold_items=idx(data, "d"), valid_items=())
    result = run_cold_start(
        split, {"popularity": {}, "content": {"encoder": "hashing-64"}}, ks=(1, 10)
    )
    assert set(result.metrics) == {"popularity", "content", "random"}
    assert result.cold_items == 1 and result.users == 2
    assert result.metrics["content"]["hr@1"] == 1.0
    assert result.metrics["popularity"]["hr@1"] == 0.0
    assert result.train_seconds["random"] == 0.0
    assert set(result.fitted) == {"popularity", "content"}
    assert set(result.everyone) == {"popularity", "content", "random"}
    # 10 items, at most 3 seen per user: every test item is within the top 10
    assert result.everyone["popularity"]["hr@10"] == 1.0


def test_random_draw_is_ten_percent_and_seeded() -> None:
    rows = [(f"u{u}", f"i{(u + t) % 40}") for u in range(60) for t in range(5)]
    data = Dataset.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]), name="ring")
    a = choose_cold_items(data, 0.1, seed=3)
    assert len(a) == 4 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(a, choose_cold_items(data, 0.1, seed=3))
    assert not np.array_equal(a, choose_cold_items(data, 0.1, seed=4))
    split = cold_start_split(data, 0.1, seed=3)
    assert not np.isin(np.concatenate(split.train.sequences), a).any()
    assert np.isin(split.test.single_targets(), a).all()
    every_cold_target = sum(int(np.isin(s[-1], a)) for s in data.sequences[1:])
    assert len(split.test) == every_cold_target


def test_bad_arguments() -> None:
    data = hand_made()
    with pytest.raises(ConfigError, match="fraction"):
        choose_cold_items(data, 1.5)
    with pytest.raises(DataError, match="no test target"):
        cold_start_split(data, cold_items=idx(data, "h"), valid_items=())
    with pytest.raises(DataError, match="item indices"):
        cold_start_split(data, cold_items=[99])
