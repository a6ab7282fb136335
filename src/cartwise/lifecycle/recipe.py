"""How a version was trained — model, the settings asked for, seed, holdout — read back from
its ``metrics.json``, to train it again (``cartwise retrain``), to fit it as the gate's
reference, or to evaluate it on the store (the report job)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cartwise.lifecycle.versions import Versions

DEFAULT_SEED = 7


@dataclass(frozen=True)
class Recipe:
    """What a training run was asked for.

    Attributes:
        model: the registered model name.
        settings: the settings given (the model's defaults fill in the rest).
        seed: the training seed.
        last_days: the holdout asked for (None: each shopper's latest event).
    """

    model: str
    settings: dict[str, Any] = field(default_factory=dict)
    seed: int = DEFAULT_SEED
    last_days: float | None = None

    def same_fit(self, other: Recipe) -> bool:
        """Whether `other` fits the same model with the same settings and seed."""
        return (self.model, self.settings, self.seed) == (other.model, other.settings, other.seed)


def recipe(versions: Versions, version: str) -> Recipe:
    """The recipe `version` records (for a version trained by an older Cartwise, which did not
    record it: its saved configuration and the default seed)."""
    info = versions.info(version)
    meta = versions.meta(version)
    settings = info.get("settings")
    seed = info.get("seed")
    last_days = (info.get("holdout") or {}).get("last_days")
    return Recipe(
        model=str(info.get("model") or meta["model"]),
        settings=dict(settings) if isinstance(settings, dict) else dict(meta.get("config", {})),
        seed=seed if isinstance(seed, int) else DEFAULT_SEED,
        last_days=float(last_days) if isinstance(last_days, int | float) else None,
    )
