"""Ranker: contract, a known answer only a catalog feature gives, no test data in training,
base-model fallback, text features, ablation over shared base models, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from contract import RecommenderContract, block_frame

from cartwise.data.dataset import Dataset
from cartwise.data.split import Split, leave_last_out
from cartwise.errors import ConfigError, DataError, ModelError
from cartwise.evaluation.protocol import evaluate, tune
from cartwise.models import ease
from cartwise.models.base import Query
from cartwise.models.popularity import Popularity
from cartwise.models.ranker import Ranker
from cartwise.models.ranker_train import hold_out_last

TINY_SASREC = {"epochs": 2, "embedding_size": 16, "num_blocks": 1, "max_len": 10, "batch_size": 32}
FAST: dict[str, Any] = {
    "models": ["sasrec", "itemknn", "popularity"],
    "candidates": 5,
    "base": {"sasrec": TINY_SASREC},
    "rounds": 50,
}


class TestRankerContract(RecommenderContract):
    model_class = Ranker
    config = FAST


def test_saved_layout_holds_lightgbm_text_and_base_folders(tmp_path: Path) -> None:
    data = Dataset.from_frame(block_frame(), name="blocks")
    model = Ranker({**FAST, "models": ["itemknn", "popularity"]}).fit(data, rng=0)
    model.save(tmp_path / "r")
    assert (tmp_path / "r" / "ranker.txt").read_text().startswith("tree")
    for name in ("itemknn", "popularity"):
        assert (tmp_path / "r" / "bases" / name / "config.json").is_file()
    assert not list((tmp_path / "r").rglob("*.pkl"))


def test_similar_items_come_from_the_first_base_model_that_has_them() -> None:
    data = Dataset.from_frame(block_frame(), name="blocks")
    model = Ranker({**FAST, "models": ["popularity", "itemknn"]}).fit(data, rng=0)
    assert model.similar_items(3, k=4) == model.bases_["itemknn"].similar_items(3, k=4)
    with pytest.raises(ModelError, match="outside"):
        model.similar_items(0)


# -- a known answer: only category match predicts the next item ---------------------------
N_CATEGORIES, PER_CATEGORY = 8, 10


def _category_sequences(n_users: int, seed: int) -> list[list[int]]:
    """Five items drawn uniformly (plus a few very popular decoys), then an item of the fifth
    item's category: only the category link predicts the last item."""
    rng = np.random.default_rng(seed)
    n = N_CATEGORIES * PER_CATEGORY
    decoys = np.array([1, 11, 21])  # popular in every history, never a target's reason
    sequences = []
    for _ in range(n_users):
        head = list(rng.choice(np.setdiff1d(np.arange(n), decoys), size=4, replace=False))
        head.insert(2, int(rng.choice(decoys)))
        category = head[-1] // PER_CATEGORY
        same = [i for i in range(category * PER_CATEGORY, (category + 1) * PER_CATEGORY)]
        sequences.append([*map(int, head), int(rng.choice(np.setdiff1d(same, head)))])
    return sequences


def _category_data(sequences: list[list[int]]) -> Dataset:
    rows = [(f"u{u}", f"i{i}") for u, s in enumerate(sequences) for i in s]
    n = N_CATEGORIES * PER_CATEGORY
    items = pd.DataFrame(
        {"item_id": [f"i{i}" for i in range(n)], "category": [f"c{i // 10}" for i in range(n)]}
    )
    return Dataset.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]), items)


def test_category_match_decides_the_order_popularity_cannot() -> None:
    data = _category_data(_category_sequences(400, seed=0))
    config = {"models": ["popularity"], "candidates": 80, "rounds": 100, "text_features": False}
    ranker = Ranker(config).fit(data, rng=0)
    popularity = Popularity().fit(data)
    fresh = _category_sequences(200, seed=1)
    queries = [Query(data.items.encode([f"i{i}" for i in s[:-1]])) for s in fresh]
    targets = np.array([data.items.index(f"i{s[-1]}") for s in fresh])

    def hr10(model: Any) -> float:
        hits = [
            t in {r.item for r in model.recommend(q, k=10, exclude=q.history)}
            for q, t in zip(queries, targets, strict=True)
        ]
        return float(np.mean(hits))

    # the target's category holds ≤ 10 unseen items: all of them fit in the top 10
    assert hr10(ranker) >= 0.95
    assert hr10(popularity) <= 0.25
    top = max(ranker.importances_, key=ranker.importances_.__getitem__)
    assert top == "category_last"
    assert ranker.training_["candidate_recall"] == 1.0


# -- no test (or ranker-target) data in training -------------------------------------------
def _sequence_split(last: int) -> Split:
    """Block users with six events; every test target replaced by item `last` of the block."""
    frame = block_frame(n_users=45)
    extra = []
    for u in range(45):
        b = u % 3
        extra.append((f"u{u}", f"i{b * 6 + (u + 1) % 6}", 1_800_000_000))
        extra.append((f"u{u}", f"i{b * 6 + last}", 1_800_000_001))
    full = pd.concat([frame, pd.DataFrame(extra, columns=frame.columns)], ignore_index=True)
    return leave_last_out(Dataset.from_frame(full, name="blocks6"))


def test_test_targets_never_change_the_fitted_ranker() -> None:
    config = {**FAST, "candidates": 6}
    fits = []
    for last in (0, 5):
        split = _sequence_split(last)
        model = Ranker(config).fit(split.train, rng=3, valid=split.valid)
        fits.append((model, split))
    (a, split_a), (b, split_b) = fits
    assert [t.tolist() for t in split_a.test.targets] != [t.tolist() for t in split_b.test.targets]
    assert a.booster_ is not None and b.booster_ is not None
    assert a.booster_.model_to_string() == b.booster_.model_to_string()
    queries = [Query(h) for h in split_a.valid.inputs]
    np.testing.assert_array_equal(a.score_many(queries), b.score_many(queries))


def test_tuning_the_ranker_never_touches_the_test_set() -> None:
    split = _sequence_split(0)
    # a test set no model can be scored on (item 999): tune must only read validation
    poisoned = Split(split.train, split.valid, split.valid.__class__(
        split.test.users, split.test.inputs, [np.array([999])] * len(split.test)
    ))  # fmt: skip
    base = {**FAST, "models": ["itemknn", "popularity"]}
    best, table = tune("ranker", poisoned, {"candidates": [3, 6]}, base=base)
    assert [row["candidates"] for row in table] == [3, 6]
    assert best["candidates"] in (3, 6)


def test_ranker_targets_stay_out_of_the_base_models_it_learns_from() -> None:
    data = Dataset.from_frame(block_frame(), name="blocks")
    model = Ranker({**FAST, "models": ["itemknn", "popularity"]}).fit(data, rng=0)
    held_counts = hold_out_last(data).data.item_counts
    learnt_from = model.held_bases_["popularity"]
    assert isinstance(learnt_from, Popularity) and learnt_from.counts_ is not None
    np.testing.assert_array_equal(learnt_from.counts_, held_counts)
    serving = model.bases_["popularity"]
    assert isinstance(serving, Popularity) and serving.counts_ is not None
    np.testing.assert_array_equal(serving.counts_, data.item_counts)  # refit on everything


# -- composition: fallback, text, ablation -------------------------------------------------
def test_ease_refusing_the_catalog_falls_back_to_itemknn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ease, "available_memory", lambda: 1000)
    data = Dataset.from_frame(block_frame(), name="blocks")
    model = Ranker({**FAST, "models": ["ease", "popularity"]}).fit(data, rng=0)
    assert model.spec_ is not None and model.spec_.sources == ("itemknn", "popularity")


def _text_data() -> Dataset:
    frame = block_frame()
    words = ["red shoe", "blue lamp", "green tea"]
    items = pd.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(18)],
            "title": [f"{words[i // 6]} model {i}" for i in range(18)],
            "brand": [f"b{i % 2}" for i in range(18)],
            "price": [float(1 + i) for i in range(18)],
        }
    )
    return Dataset.from_frame(frame, items, name="blocks-text")


def test_text_brand_and_price_features_from_the_catalog() -> None:
    data = _text_data()
    config = {**FAST, "models": ["popularity"], "candidates": 18}
    config["base"] = {"content": {"encoder": "hashing-64"}}
    model = Ranker(config).fit(data, rng=0)
    assert model.spec_ is not None
    names = model.spec_.names()
    assert {"text_profile", "brand_last", "price_ratio"} <= set(names)
    assert model.spec_.sources == ("popularity",)  # content: features only, no candidates
    history = data.items.encode(["i0", "i1"])
    recs = model.recommend(Query(history), k=4, exclude=history)
    # the block's text ("red shoe") is the only signal beyond popularity: it wins
    assert {data.items.ids[r.item - 1] for r in recs} <= {f"i{i}" for i in range(6)}


def test_ablation_reuses_the_fitted_base_models() -> None:
    data = Dataset.from_frame(block_frame(), name="blocks")
    full = Ranker(FAST).fit(data, rng=0)
    without = Ranker({**FAST, "models": ["itemknn", "popularity"]})
    without.fit_with_bases(data, full.held_bases_, full.bases_, rng=0)
    assert without.spec_ is not None and without.spec_.sources == ("itemknn", "popularity")
    assert not [n for n in without.importances_ if n.startswith("sasrec")]
    split = leave_last_out(data)
    assert evaluate(without, split.valid).metrics["hr@10"] > 0.5


# -- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"models": ["sasrec", "gpt"]}, "unknown base model 'gpt'"),
        ({"models": []}, "at least one base model"),
        ({"models": ["ease", "ease"]}, "listed twice"),
        ({"base": {"nope": {}}}, "unknown base model 'nope'"),
        ({"base": {"sasrec": {"epochs": 0}}}, "epochs"),
        ({"candidates": 0}, "candidates"),
    ],
)
def test_bad_config_names_the_setting(settings: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Ranker(settings)


def test_no_target_among_candidates_is_a_clear_error() -> None:
    # every shopper buys one item twice: the held-out repeat is in the history, never a candidate
    rows = [(f"u{u}", f"i{u % 5}") for u in range(20) for _ in range(2)]
    data = Dataset.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]))
    with pytest.raises(ModelError, match="raise candidates"):
        Ranker({**FAST, "models": ["popularity"]}).fit(data, rng=0)


def test_shoppers_with_one_event_cannot_teach_the_ranker() -> None:
    data = Dataset.from_frame(pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"]}))
    with pytest.raises(DataError, match="two or more events"):
        Ranker(FAST).fit(data)


def test_base_model_of_another_catalog_is_refused() -> None:
    data = Dataset.from_frame(block_frame(), name="blocks")
    other = Dataset.from_frame(block_frame(n_users=9, block=4), name="small")
    pop = Popularity().fit(other)
    with pytest.raises(ModelError, match="another catalog"):
        Ranker({**FAST, "models": ["popularity"]}).fit_with_bases(
            data, {"popularity": pop}, {"popularity": pop}
        )
