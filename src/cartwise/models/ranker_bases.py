"""The base models under the second-stage ranker: which may propose candidates, fitting them,
and their sub-folders on disk.

The ranker holds its base models (composition): each is a registered
:class:`~cartwise.models.base.Recommender` used through its public API (``fit``,
``score_many``, ``save``, ``load``) and saved in its own folder ``bases/<name>/``. EASE refuses a
catalog whose dense inverse would not fit in memory; ItemKNN, its sparse cousin, stands in then.
The content model reads item text only, so one fit serves both stages of the ranker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cartwise.data.dataset import Dataset
from cartwise.errors import ModelError, ResourceError
from cartwise.models.als import ALS, BPR
from cartwise.models.base import Recommender, read_meta
from cartwise.models.ease import EASE
from cartwise.models.hybrid import Hybrid
from cartwise.models.itemknn import ItemKNN
from cartwise.models.popularity import Popularity
from cartwise.models.sasrec import SASRec
from cartwise.models.text import ContentModel

_log = logging.getLogger(__name__)

#: Models that may propose candidates to the ranker, by registry name (an explicit dict: the
#: registry imports the ranker, so the ranker cannot import the registry).
BASES: dict[str, type[Recommender]] = {
    cls.name: cls for cls in (Popularity, ItemKNN, EASE, ALS, BPR, SASRec, ContentModel, Hybrid)
}
#: Base models that read item text: used only when the catalog has some.
TEXT_MODELS = frozenset({ContentModel.name, Hybrid.name})
#: Base models whose fit ignores interactions: fitted once, shared by both stages.
INTERACTION_FREE = frozenset({ContentModel.name})
#: What stands in for a model that refuses the catalog (ResourceError).
FALLBACK = {EASE.name: ItemKNN.name}
TEXT = ContentModel.name


@dataclass
class FittedBases:
    """Fitted base models by the name they propose candidates under, and seconds per fit."""

    models: dict[str, Recommender] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def has_text(data: Dataset) -> bool:
    """Whether any item of `data` has text."""
    return any(t.strip() for t in data.item_text[1:])


def fit_bases(
    names: Iterable[str],
    settings: dict[str, dict[str, Any]],
    data: Dataset,
    *,
    seed: int,
    valid: Any = None,
    reuse: dict[str, Recommender] | None = None,
) -> FittedBases:
    """Fit each base model on `data`, substituting FALLBACK for one that refuses the catalog.

    Args:
        names: base model names (keys of BASES); text models are skipped without item text.
        settings: per name, its config settings.
        data: training data of this stage.
        seed: the seed every model's own seed is derived from (by its position in BASES, so
            adding a model does not change the others').
        valid: validation set passed on to models that early-stop (SASRec).
        reuse: already fitted models taken as they are for names in INTERACTION_FREE.
    """
    out = FittedBases()
    text = has_text(data)
    for name in names:
        if name in TEXT_MODELS and not text:
            _log.info("ranker: '%s' skipped, no item of '%s' has text", name, data.name)
            continue
        if reuse and name in reuse and name in INTERACTION_FREE:
            out.models[name] = reuse[name]
            out.seconds[name] = 0.0
            continue
        fitted = _fit_one(name, settings, data, seed, valid)
        if fitted is None:
            name = FALLBACK[name]
            fitted = _fit_one(name, settings, data, seed, valid)
            assert fitted is not None  # fallbacks never refuse
        out.models[name], out.seconds[name] = fitted
    return out


def _fit_one(
    name: str, settings: dict[str, dict[str, Any]], data: Dataset, seed: int, valid: Any
) -> tuple[Recommender, float] | None:
    """(model, seconds), or None when `name` refuses the catalog and has a fallback."""
    rng = np.random.default_rng([seed, list(BASES).index(name)])
    began = time.perf_counter()
    model = BASES[name](settings.get(name, {}))
    try:
        model.fit(data, rng=rng, valid=valid)
    except ResourceError as exc:
        if name not in FALLBACK:
            raise
        _log.warning("ranker: %s; %s proposes candidates instead", exc, FALLBACK[name])
        return None
    seconds = time.perf_counter() - began
    _log.info("ranker: %s fitted on %s in %.1f s", name, data.name, seconds)
    return model, seconds


def save_bases(models: dict[str, Recommender], folder: Path) -> None:
    """Each model in ``folder/<name>/`` through its own ``save``."""
    for name, model in models.items():
        model.save(folder / name)


def load_bases(names: Iterable[str], folder: Path) -> dict[str, Recommender]:
    """Models saved by :func:`save_bases`, each through its own class's ``load``."""
    out: dict[str, Recommender] = {}
    for name in names:
        path = folder / name
        meta = read_meta(path)
        cls = BASES.get(str(meta.get("model")))
        if cls is None:
            raise ModelError(
                f"{path} holds a '{meta.get('model')}' model, which the ranker cannot use"
            )
        out[name] = cls.load(path)
    return out
