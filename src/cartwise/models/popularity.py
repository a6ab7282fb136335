"""Most-popular baseline, optionally restricted to a recent window or decayed over time.

Score of item *i* (the same for every shopper)::

    score(i) = Σ_{events e on i} w(e)
    w(e)     = [t_last − t_e ≤ window] · 0.5 ** ((t_last − t_e) / half_life)

where ``t_last`` is the dataset's last timestamp. Without a window every event is in; without a
half life there is no decay, so the score is the plain interaction count.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cartwise.data.dataset import Dataset
from cartwise.errors import DataError, NotFittedError
from cartwise.models.base import Query, Recommender

_log = logging.getLogger(__name__)

DAY_SECONDS = 86_400.0


class PopularityConfig(BaseModel):
    """Settings of :class:`Popularity`.

    Attributes:
        window_days: count only events at most this many days before the dataset's last event.
        half_life_days: weight each event by 0.5 ** (age in days / half_life_days).
    """

    model_config = ConfigDict(extra="forbid")

    window_days: float | None = Field(default=None, gt=0)
    half_life_days: float | None = Field(default=None, gt=0)


class Popularity(Recommender):
    """Recommends what most shoppers interacted with (recently, when configured)."""

    name: ClassVar[str] = "popularity"
    config_class: ClassVar[type[BaseModel]] = PopularityConfig
    config: PopularityConfig

    def __init__(self, config: PopularityConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.counts_: np.ndarray | None = None

    def _fit(self, data: Dataset, rng: np.random.Generator, valid: Any) -> None:
        cfg = self.config
        if cfg.window_days is None and cfg.half_life_days is None:
            self.counts_ = data.item_counts.astype(np.float64)
            return
        if data.timestamps is None:
            raise DataError(
                f"dataset '{data.name}' has no timestamps, but popularity's window_days/"
                "half_life_days need them; unset those settings or build the dataset with a "
                "'timestamp' column"
            )
        times = np.concatenate(data.timestamps) if data.n_interactions else np.zeros(0)
        items = np.concatenate(data.sequences).astype(np.int64)
        age_days = (times.max() - times) / DAY_SECONDS
        weights = np.ones(len(items), dtype=np.float64)
        if cfg.window_days is not None:
            weights[age_days > cfg.window_days] = 0.0
        if cfg.half_life_days is not None:
            weights *= 0.5 ** (age_days / cfg.half_life_days)
        self.counts_ = np.bincount(items, weights=weights, minlength=len(data.items))
        _log.debug("popularity: %d items with weight > 0", int((self.counts_ > 0).sum()))

    @property
    def _counts(self) -> np.ndarray:
        if self.counts_ is None:
            raise NotFittedError(f"{self.name} is not fitted; call fit() or load() first")
        return self.counts_

    def _score_histories(self, queries: Sequence[Query]) -> np.ndarray:
        row = self._counts.astype(np.float32)
        return np.broadcast_to(row, (len(queries), len(row))).copy()

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"counts": self._counts}

    def _set_arrays(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        self.counts_ = arrays["counts"].astype(np.float64)
