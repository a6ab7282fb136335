"""Model registry: names, creation with validated config, loading any saved model."""

from __future__ import annotations

from pathlib import Path

import pytest
from contract import block_frame

from cartwise.data.dataset import Dataset
from cartwise.errors import ConfigError, ModelError
from cartwise.models.base import Query
from cartwise.models.ease import EASE, EASEConfig
from cartwise.models.registry import REGISTRY, create, load, model_class, names


def test_baselines_registered() -> None:
    assert names() == [
        "popularity", "itemknn", "ease", "als", "bpr", "sasrec", "content", "hybrid", "ranker",
        "transfer",
    ]  # fmt: skip
    assert all(cls.name == name for name, cls in REGISTRY.items())


def test_create_validates_config() -> None:
    model = create("ease", {"reg": 42})
    assert isinstance(model, EASE)
    assert model.config == EASEConfig(reg=42.0)
    with pytest.raises(ConfigError, match="reg"):
        create("ease", {"reg": -1})


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown model 'nope'.*popularity"):
        model_class("nope")


def test_load_any_saved_model(tmp_path: Path) -> None:
    data = Dataset.from_frame(block_frame())
    create("itemknn", {"k": 5}).fit(data).save(tmp_path / "m")
    loaded = load(tmp_path / "m")
    assert loaded.name == "itemknn"
    assert len(loaded.recommend(Query.of([1]), k=3)) == 3


def test_load_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="config.json is missing"):
        load(tmp_path)
