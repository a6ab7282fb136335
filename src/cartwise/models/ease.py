"""EASE: embarrassingly shallow autoencoder (Steck, WWW 2019), closed form.

With X the binary user × item matrix, G = XᵀX + λI and P = G⁻¹::

    B[i, j] = −P[i, j] / P[j, j]   (i ≠ j),   B[j, j] = 0

A history h scores item j as ``Σ_{i ∈ h} B[i, j]``. The inverse is dense, so memory grows with
the square of the catalog: fitting refuses (ResourceError) when it would not fit in RAM.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import psutil
from pydantic import BaseModel, ConfigDict, Field

from cartwise.data.dataset import Dataset
from cartwise.errors import ModelError, NotFittedError, ResourceError
from cartwise.models.base import Query, Recommender, Scored, top_k
from cartwise.models.histories import (
    binary_matrix,
    fill_cold_rows,
    history_matrix,
    popularity_prior,
)

_log = logging.getLogger(__name__)

#: Dense float64 n × n matrices alive at once while fitting (Gram, inverse, LAPACK work space).
WORK_COPIES = 3


def available_memory() -> int:
    """Bytes of memory the system can give now."""
    return int(psutil.virtual_memory().available)


def required_memory(n_items: int) -> int:
    """Bytes EASE needs to fit a catalog of `n_items`: WORK_COPIES × n² × 8."""
    return WORK_COPIES * n_items * n_items * 8


class EASEConfig(BaseModel):
    """Settings of :class:`EASE`.

    Attributes:
        reg: L2 weight λ added to the Gram diagonal (300 is best on ML-1M validation).
    """

    model_config = ConfigDict(extra="forbid")

    reg: float = Field(default=300.0, gt=0)


class EASE(Recommender):
    """Linear item-to-item autoencoder with a zero diagonal, solved in closed form."""

    name: ClassVar[str] = "ease"
    config_class: ClassVar[type[BaseModel]] = EASEConfig
    config: EASEConfig

    def __init__(self, config: EASEConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.weights_: np.ndarray | None = None
        self.prior_: np.ndarray | None = None

    def _fit(self, data: Dataset, rng: np.random.Generator, valid: Any) -> None:
        n = data.n_items
        need, have = required_memory(n), available_memory()
        if need > have:
            raise ResourceError(
                f"EASE on '{data.name}' ({n:,} items) needs about {need / 2**30:.1f} GiB of "
                f"memory, only {have / 2**30:.1f} GiB is available; use itemknn or als for "
                "this catalog, or free memory"
            )
        x = binary_matrix(data.matrix)[:, 1:]
        gram = np.asarray((x.T @ x).toarray(), dtype=np.float64)
        gram[np.diag_indices(n)] += self.config.reg
        p = np.linalg.inv(gram)
        del gram
        p /= -np.diag(p).copy()[None, :]  # in place: B = −P / diag(P), column-wise
        p[np.diag_indices(n)] = 0.0
        weights = np.zeros((n + 1, n + 1), dtype=np.float32)
        weights[1:, 1:] = p
        self.weights_ = weights
        self.prior_ = popularity_prior(data.item_counts)
        _log.debug("ease: fitted %d items with reg=%g", n, self.config.reg)

    def _parts(self) -> tuple[np.ndarray, np.ndarray]:
        if self.weights_ is None or self.prior_ is None:
            raise NotFittedError(f"{self.name} is not fitted; call fit() or load() first")
        return self.weights_, self.prior_

    def _score_histories(self, queries: Sequence[Query]) -> np.ndarray:
        weights, prior = self._parts()
        h = history_matrix(queries, weights.shape[0])
        scores = np.asarray(h @ weights, dtype=np.float32)
        return fill_cold_rows(scores, queries, prior)

    def similar_items(self, item: int, k: int = 10) -> list[Scored]:
        """Items with the largest weight from `item` in B (how much `item` predicts them)."""
        weights, _ = self._parts()
        if not 1 <= item < weights.shape[0]:
            raise ModelError(f"item index {item} is outside 1..{weights.shape[0] - 1}")
        row = weights[item].copy()
        row[0] = -np.inf
        return top_k(row, k, exclude=np.array([item]))

    def _arrays(self) -> dict[str, np.ndarray]:
        weights, prior = self._parts()
        return {"weights": weights, "prior": prior}

    def _set_arrays(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        self.weights_ = arrays["weights"]
        self.prior_ = arrays["prior"]
