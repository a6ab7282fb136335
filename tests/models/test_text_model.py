"""Content model: contract, text similarity, recency-weighted profiles, cold items, cache."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from contract import BLOCK_SIZE, N_BLOCKS, RecommenderContract, block_frame

from cartwise.data import vectors as cache
from cartwise.data.dataset import Dataset
from cartwise.data.store import Store
from cartwise.errors import ConfigError, ModelError
from cartwise.models.base import Query
from cartwise.models.registry import load
from cartwise.models.text import ContentModel, item_vectors, make_encoder
from cartwise.text.encoder import CachedEncoder, HashingEncoder

BLOCK_WORDS = ["red cotton shirt", "steel kitchen knife", "wireless phone charger"]
CONFIG: dict[str, Any] = {"encoder": "hashing-64"}


def block_catalog(extra: Sequence[tuple[str, str]] = ()) -> pd.DataFrame:
    """Titles of the contract's block items: every item of block b shares BLOCK_WORDS[b]."""
    rows = [
        (f"i{i}", f"{BLOCK_WORDS[i // BLOCK_SIZE]} model{i}") for i in range(N_BLOCKS * BLOCK_SIZE)
    ]
    return pd.DataFrame([*rows, *extra], columns=["item_id", "title"])


def text_blocks(extra: Sequence[tuple[str, str]] = ()) -> Dataset:
    return Dataset.from_frame(block_frame(), block_catalog(extra), name="text-blocks")


class TestContentContract(RecommenderContract):
    model_class = ContentModel
    config = CONFIG

    def make_data(self) -> Dataset:
        return text_blocks()


class FakeEncoder:
    """One-hot on the first word (a known, exact geometry); counts texts it was sent."""

    def __init__(self, vocabulary: Sequence[str]) -> None:
        self.words = list(vocabulary)
        self.seen: list[str] = []

    @property
    def name(self) -> str:
        return "fake-first-word"

    @property
    def dim(self) -> int:
        return len(self.words)

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        self.seen.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, self.words.index(text.split()[0])] = 1.0
        return out


def tiny_fake() -> tuple[Dataset, FakeEncoder]:
    """Items a (apple), b (banana), c (cherry) with events; n (apple, no events); e (no text)."""
    events = pd.DataFrame(
        {"user_id": ["u1", "u1", "u2", "u2", "u3"], "item_id": ["a", "b", "b", "c", "a"]}
    )
    catalog = pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "n", "e"],
            "title": ["apple pie", "banana bread", "cherry cake", "apple tart", ""],
        }
    )
    return Dataset.from_frame(events, catalog, name="fake"), FakeEncoder(
        ["apple", "banana", "cherry"]
    )


def test_injected_encoder_scores_are_recency_weighted_cosines() -> None:
    data, enc = tiny_fake()
    model = ContentModel({"recency_decay": 0.5}, encoder=enc).fit(data)
    assert sorted(enc.seen) == ["apple pie", "apple tart", "banana bread", "cherry cake"]
    a, b, c, n, e = data.items.encode(["a", "b", "c", "n", "e"])
    scores = model.score(Query.of([b, a]))  # a is newest: profile = apple + 0.5 banana
    norm = np.sqrt(1 + 0.25)
    assert scores[a] == pytest.approx(1 / norm) and scores[n] == pytest.approx(1 / norm)
    assert scores[b] == pytest.approx(0.5 / norm)
    assert scores[c] == 0.0 and scores[e] == 0.0
    # only the newest max_history items count
    short = ContentModel({"max_history": 1}, encoder=enc).fit(data)
    np.testing.assert_allclose(short.score(Query.of([c, b, a])), short.score(Query.of([a])))


def test_cold_item_without_events_is_recommended_by_its_text() -> None:
    data, enc = tiny_fake()
    a, n = data.items.encode(["a", "n"])
    assert data.item_counts[n] == 0
    model = ContentModel(encoder=enc).fit(data)
    assert model.recommend(Query.of([a]), k=1, exclude=[a])[0].item == n
    assert [s.item for s in model.similar_items(a, k=1)] == [n]
    assert model.similar_items(a, k=1)[0].score == pytest.approx(1.0)


def test_history_without_text_falls_back_to_popularity() -> None:
    data, enc = tiny_fake()
    model = ContentModel(encoder=enc).fit(data)
    e = data.items.index("e")
    np.testing.assert_array_equal(model.score(Query.of([e])), model.score(Query.of([])))
    assert model.recommend(Query.of([e]), k=1)[0].item in data.items.encode(["a", "b"])


def test_hashing_blocks_similar_items_stay_in_the_block() -> None:
    data = text_blocks()
    model = ContentModel(CONFIG).fit(data)
    for item in (1, 8, 15):
        block = {j for j in range(1, data.n_items + 1) if _block(data, j) == _block(data, item)}
        top = {s.item for s in model.similar_items(item, k=BLOCK_SIZE - 1)}
        assert top == block - {item}
    with pytest.raises(ModelError, match="outside"):
        model.similar_items(data.n_items + 1)


def test_user_recommendations_follow_the_newest_block() -> None:
    data = text_blocks()
    model = ContentModel(CONFIG).fit(data)
    old, new = data.items.encode(["i0", "i13"])  # block 0 then block 2
    recs = model.recommend(Query.of([old, new]), k=BLOCK_SIZE - 1, exclude=[old, new])
    assert {_block(data, r.item) for r in recs} == {2}


def test_saved_vectors_are_npz_without_pickle(tmp_path: Path) -> None:
    data, enc = tiny_fake()
    model = ContentModel(encoder=enc).fit(data)
    model.save(tmp_path / "m")
    with np.load(tmp_path / "m" / "weights.npz", allow_pickle=False) as arrays:
        np.testing.assert_array_equal(arrays["vectors"], model.vectors_)
    loaded = load(tmp_path / "m")  # no encoder needed to score
    assert isinstance(loaded, ContentModel)
    q = [Query.of([1, 2]), Query.of([3])]
    np.testing.assert_array_equal(loaded.score_many(q), model.score_many(q))


def test_encoder_cache_encodes_each_text_once(tmp_path: Path) -> None:
    data = text_blocks()
    db = tmp_path / "vectors.db"
    first = ContentModel({**CONFIG, "encoder_cache": db}).fit(data)
    store = Store.open(db)
    assert cache.count_vectors(store, "hashing-64") == data.n_items
    cached = make_encoder("hashing-64", db)
    assert isinstance(cached, CachedEncoder)
    again = item_vectors(data, cached)
    assert cached.last_misses == 0 and cached.last_hits == data.n_items
    np.testing.assert_array_equal(again, first.vectors_)
    np.testing.assert_allclose(again, item_vectors(data, HashingEncoder(64)))
    store.close()


def test_bad_encoder_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="TextEncoder"):
        ContentModel(encoder="hashing-64")  # type: ignore[arg-type]


@pytest.mark.slow
def test_real_minilm_puts_a_new_phone_case_next_to_phone_accessories() -> None:
    events = pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["cover", "hose", "cover"]})
    catalog = pd.DataFrame(
        {
            "item_id": ["cover", "hose", "case", "rake"],
            "title": [
                "Protective cover for smartphones",
                "Garden hose, 20 m",
                "Shockproof phone case",
                "Leaf rake for the garden",
            ],
        }
    )
    data = Dataset.from_frame(events, catalog, name="minilm")
    model = ContentModel().fit(data)
    cover, case = data.items.encode(["cover", "case"])
    assert model.similar_items(cover, k=1)[0].item == case
    assert model.vectors_ is not None and model.vectors_.shape == (5, 384)


def _block(data: Dataset, item: int) -> int:
    return int(data.items.decode([item])[0][1:]) // BLOCK_SIZE
