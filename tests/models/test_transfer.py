"""Transfer (text-only SASRec): contract, pretrained on one shop and zero-shot on another whose
words it never saw, fine-tuning, persistence, clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from contract import RecommenderContract
from test_text_model import text_blocks

from cartwise.data.dataset import Dataset
from cartwise.errors import ModelError
from cartwise.models.base import Query
from cartwise.models.hybrid import Hybrid
from cartwise.models.popularity import Popularity
from cartwise.models.registry import create, load
from cartwise.models.transfer import (
    BUILTIN,
    Transfer,
    read_pretrained,
    save_pretrained,
    shared_state,
)
from cartwise.models.vectors import dot_product

TINY: dict[str, Any] = {
    "max_len": 8, "embedding_size": 16, "num_blocks": 1, "epochs": 3, "batch_size": 16,
    "num_threads": 1, "encoder": "hashing-32", "pretrained": None,
}  # fmt: skip
PRETRAIN: dict[str, Any] = {
    "max_len": 6, "embedding_size": 32, "num_blocks": 1, "epochs": 25, "batch_size": 32,
    "learning_rate": 1e-2, "dropout": 0.0, "warmup": 0.0, "num_threads": 1, "patience": None,
    "encoder": "hashing-256", "pretrained": None,
}  # fmt: skip
SHOP_A = [f"zq{n}x" for n in range(60)]  # brand words of the pretraining shop
SHOP_B = [f"vk{n}m" for n in range(15)]  # the new shop's brands: words never seen in A


class TestTransferContract(RecommenderContract):
    model_class = Transfer
    config = TINY

    def make_data(self) -> Dataset:
        return text_blocks()


def phones_then_cases(brands: list[str], n_users: int, seed: int) -> Dataset:
    """Shoppers who buy a brand's phone, then that brand's case, then another brand's phone…:
    after "<brand> phone" comes "<brand> case", whatever the brand is called."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for brand in rng.choice(brands, size=3, replace=False):
            rows += [(f"u{u}", f"{brand}-phone"), (f"u{u}", f"{brand}-case")]
    titles = [(f"{b}-{kind}", f"{b} {kind}") for b in brands for kind in ("phone", "case")]
    catalog = pd.DataFrame(titles, columns=["item_id", "title"])
    return Dataset.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]), catalog)


def hits_at(model: Any, data: Dataset, brands: list[str], k: int) -> float:
    """Share of brands whose case is in the top `k` right after their phone."""
    vocab = data.items
    hits = 0
    for brand in brands:
        phone, case = vocab.index(f"{brand}-phone"), vocab.index(f"{brand}-case")
        top = [s.item for s in model.recommend(Query.of([phone]), k=k)]
        hits += case in top
    return hits / len(brands)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = Transfer(PRETRAIN).fit(phones_then_cases(SHOP_A, 300, seed=0), rng=0)
    return save_pretrained(model, tmp_path_factory.mktemp("pre") / "w", {"datasets": ["A"]})


def test_zero_shot_on_a_new_shop_follows_the_pattern_popularity_cannot(pretrained: Path) -> None:
    shop = phones_then_cases(SHOP_B, 40, seed=1)
    zero = Transfer({"pretrained": str(pretrained), "fine_tune": False}).fit(shop, rng=0)
    popular = Popularity().fit(shop)
    assert hits_at(zero, shop, SHOP_B, k=3) >= 0.8  # chance: about 0.1
    assert hits_at(popular, shop, SHOP_B, k=3) <= 0.2


def test_zero_shot_takes_no_gradient_step_and_the_architecture_of_the_weights(
    pretrained: Path,
) -> None:
    shop = phones_then_cases(SHOP_B, 40, seed=1)
    zero = Transfer({"pretrained": str(pretrained), "fine_tune": False, "embedding_size": 8})
    zero.fit(shop, rng=0)
    assert zero.config.embedding_size == 32 and zero.config.encoder == "hashing-256"
    _, weights = read_pretrained(str(pretrained))
    for key, value in shared_state(zero._net).items():
        assert torch.equal(value, weights[key]), key
    assert zero.history_ == []


def test_fine_tuning_starts_from_the_pretrained_weights_and_trains(pretrained: Path) -> None:
    shop = phones_then_cases(SHOP_B, 40, seed=1)
    config = {"pretrained": str(pretrained), "epochs": 2, "num_threads": 1, "patience": None}
    tuned = Transfer(config).fit(shop, rng=0)
    assert len(tuned.history_) == 2
    _, weights = read_pretrained(str(pretrained))
    moved = [k for k, v in shared_state(tuned._net).items() if not torch.equal(v, weights[k])]
    assert moved  # training changed the shared weights
    assert hits_at(tuned, shop, SHOP_B, k=3) >= 0.8


def test_a_saved_zero_shot_model_loads_with_the_same_scores(
    pretrained: Path, tmp_path: Path
) -> None:
    shop = phones_then_cases(SHOP_B, 40, seed=1)
    zero = Transfer({"pretrained": str(pretrained), "fine_tune": False}).fit(shop, rng=0)
    zero.save(tmp_path / "m")
    again = load(tmp_path / "m")
    assert isinstance(again, Transfer)
    queries = [Query.of([1, 2]), Query.of([5])]
    np.testing.assert_allclose(again.score_many(queries), zero.score_many(queries), atol=1e-6)


def test_missing_pretrained_weights_name_the_folder_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no pretrained weights in .*benchmarks/transfer.py"):
        Transfer({"pretrained": str(tmp_path / "nothing")}).fit(text_blocks(), rng=0)


@pytest.mark.parametrize("name", ["hybrid", "transfer"])
def test_text_models_query_vectors_times_item_matrix_are_the_scores(name: str) -> None:
    config = {**TINY, "epochs": 1}
    if name == "hybrid":
        config.pop("pretrained")
    model = create(name, config).fit(text_blocks(), rng=0)
    assert isinstance(model, Hybrid)
    scorer = dot_product(model)
    assert scorer is not None
    queries = [Query.of([1, 2, 3]), Query.of([5])]
    got = scorer.query_vectors(queries) @ scorer.item_matrix()[1:].T
    np.testing.assert_allclose(got, model.score_many(queries)[:, 1:], rtol=1e-4, atol=1e-4)


def test_builtin_weights_are_shipped_and_fit_the_default_network() -> None:
    arch, weights = read_pretrained("builtin")
    assert BUILTIN.is_dir() and arch["encoder"] == "all-MiniLM-L6-v2"
    assert weights["item_emb.proj.weight"].shape == (arch["embedding_size"], 384)
