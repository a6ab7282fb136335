"""Model names → classes: an explicit dict, no import-by-string.

The CLI, the HTTP layer and the benchmarks look models up here by the name a user types, and
:func:`load` reads a saved model directory whatever its class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from cartwise.errors import ConfigError, ModelError
from cartwise.models.als import ALS, BPR
from cartwise.models.base import Recommender, read_meta
from cartwise.models.ease import EASE
from cartwise.models.hybrid import Hybrid
from cartwise.models.itemknn import ItemKNN
from cartwise.models.popularity import Popularity
from cartwise.models.ranker import Ranker
from cartwise.models.sasrec import SASRec
from cartwise.models.text import ContentModel
from cartwise.models.transfer import Transfer

REGISTRY: dict[str, type[Recommender]] = {
    Popularity.name: Popularity,
    ItemKNN.name: ItemKNN,
    EASE.name: EASE,
    ALS.name: ALS,
    BPR.name: BPR,
    SASRec.name: SASRec,
    ContentModel.name: ContentModel,
    Hybrid.name: Hybrid,
    Ranker.name: Ranker,
    Transfer.name: Transfer,
}


def names() -> list[str]:
    """Registered model names, in registration order."""
    return list(REGISTRY)


def model_class(name: str) -> type[Recommender]:
    """The class registered as `name`; ConfigError listing the known names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model '{name}'; choose one of {', '.join(REGISTRY)}") from None


def create(name: str, config: BaseModel | dict[str, Any] | None = None) -> Recommender:
    """A new, unfitted model `name` with `config` validated into its config class."""
    return model_class(name)(config)


def load(path: Path | str) -> Recommender:
    """Load a model directory written by ``Recommender.save``, whichever model it holds."""
    meta = read_meta(Path(path))
    name = meta.get("model")
    if name not in REGISTRY:
        raise ModelError(
            f"{path} holds a model named {name!r}, which this version does not know; "
            f"known: {', '.join(REGISTRY)}"
        )
    return REGISTRY[name].load(path)
