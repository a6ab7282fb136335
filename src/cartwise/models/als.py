"""Matrix factorisation baselines wrapping the `implicit` library (CPU): ALS and BPR.

Both learn item factors y_i from the binary user × item matrix; a shopper is scored from their
*history*, not a stored user row, so new events count without retraining. ALS folds the user
factor in with implicit-feedback least squares (Hu, Koren & Volinsky 2008), the same step it
alternates during training (BPR uses the mean of the history's item factors, see :class:`BPR`)::

    x_h = argmin_x Σ_i c_hi (p_hi − x·y_i)² + λ‖x‖²,   p_hi = [i ∈ h],  c_hi = α if i ∈ h else 1

    score(h, j) = x_h · y_j (+ b_j, BPR's item bias)

implicit's native solver does it (``recalculate_user``), with BLAS limited to one thread inside
as implicit recommends; its own threads (``num_threads``, 0 = all cores) parallelise over users.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from pydantic import BaseModel, ConfigDict, Field
from threadpoolctl import threadpool_limits

from cartwise.data.dataset import Dataset
from cartwise.errors import ModelError, NotFittedError
from cartwise.models.base import Query, Recommender, Scored, top_k
from cartwise.models.histories import (
    binary_matrix,
    fill_cold_rows,
    history_matrix,
    popularity_prior,
)

_log = logging.getLogger(__name__)


class ALSConfig(BaseModel):
    """Settings of :class:`ALS` (names follow CONVENTIONS.md; implicit's in brackets).

    Attributes:
        embedding_size: latent factors (``factors``).
        epochs: ALS sweeps (``iterations``).
        reg: L2 weight λ (``regularization``), also used when folding in a history.
        alpha: confidence of an observed interaction.
        num_threads: solver threads; 0 uses every core. Results do not depend on it.
    """

    model_config = ConfigDict(extra="forbid")

    embedding_size: int = Field(default=64, ge=1)
    epochs: int = Field(default=15, ge=1)
    reg: float = Field(default=0.01, ge=0)
    alpha: float = Field(default=1.0, gt=0)
    num_threads: int = Field(default=0, ge=0)


class BPRConfig(BaseModel):
    """Settings of :class:`BPR`.

    Attributes:
        embedding_size: latent factors, not counting the item bias.
        epochs: passes over the interactions.
        learning_rate: SGD step.
        reg: L2 weight of the SGD updates.
        num_threads: SGD threads. Above 1 training is faster but lock-free (hogwild), so two
            runs with the same rng no longer give identical factors; 1 keeps them reproducible.
    """

    model_config = ConfigDict(extra="forbid")

    embedding_size: int = Field(default=64, ge=1)
    epochs: int = Field(default=100, ge=1)
    learning_rate: float = Field(default=0.01, gt=0)
    reg: float = Field(default=0.01, ge=0)
    num_threads: int = Field(default=1, ge=0)


class _FactorModel(Recommender):
    """Shared state and scoring of the factor models: item factors (+ bias) and a fold-in."""

    def __init__(self, config: BaseModel | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.item_factors_: np.ndarray | None = None  # (n_items + 1, d), row 0 zero
        self.item_bias_: np.ndarray | None = None  # (n_items + 1,)
        self.prior_: np.ndarray | None = None
        self._solver: AlternatingLeastSquares | None = None
        self._matrix: np.ndarray | None = None

    def _set_factors(self, factors: np.ndarray, bias: np.ndarray, counts: np.ndarray) -> None:
        n = factors.shape[0]
        self.item_factors_ = np.zeros((n + 1, factors.shape[1]), dtype=np.float32)
        self.item_factors_[1:] = factors
        self.item_bias_ = np.zeros(n + 1, dtype=np.float32)
        self.item_bias_[1:] = bias
        self.prior_ = popularity_prior(counts)
        self._solver = None
        self._matrix = None

    def _parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.item_factors_ is None or self.item_bias_ is None or self.prior_ is None:
            raise NotFittedError(f"{self.name} is not fitted; call fit() or load() first")
        return self.item_factors_, self.item_bias_, self.prior_

    @abstractmethod
    def _fold_in(self, h: sp.csr_matrix) -> np.ndarray:
        """User factors (B, d) of the history rows `h` (B, n_items)."""

    @abstractmethod
    def _solver_for(self, seed: int) -> Any:
        """A fresh implicit model with this config and random seed."""

    def _fit(self, data: Dataset, rng: np.random.Generator, valid: Any) -> None:
        x = sp.csr_matrix(binary_matrix(data.matrix)[:, 1:])
        with threadpool_limits(1, "blas"):  # implicit's own threads, not BLAS's, do the work
            model = self._solver_for(int(rng.integers(2**31 - 1)))
            model.fit(x, show_progress=False)
        self._keep(np.asarray(model.item_factors, dtype=np.float32), data.item_counts)

    @abstractmethod
    def _keep(self, factors: np.ndarray, counts: np.ndarray) -> None:
        """Store the trained implicit model's item factors (see :meth:`_set_factors`)."""

    def _score_histories(self, queries: Sequence[Query]) -> np.ndarray:
        factors, bias, prior = self._parts()
        h = history_matrix(queries, factors.shape[0])[:, 1:]
        users = self._fold_in(sp.csr_matrix(h))
        scores = users @ factors.T + bias[None, :]
        return fill_cold_rows(np.asarray(scores, dtype=np.float32), queries, prior)

    def query_vectors(self, queries: Sequence[Query]) -> np.ndarray:
        """Folded-in user factors (B, D), with a constant 1 against BPR's item bias; zeros for
        empty histories (see :class:`cartwise.models.vectors.DotProduct`)."""
        factors, bias, _ = self._parts()
        self.check_queries(queries)
        h = history_matrix(queries, factors.shape[0])[:, 1:]
        users = np.asarray(self._fold_in(sp.csr_matrix(h)), dtype=np.float32)
        if bias.any():
            users = np.hstack([users, np.ones((len(users), 1), dtype=np.float32)])
        users[[q.history.size == 0 for q in queries]] = 0.0
        return users

    def item_matrix(self) -> np.ndarray:
        """Item factors (n_items + 1, D), with the item bias as the last column when there is
        one (BPR): ``score = query_vectors @ item_matrix.T``."""
        factors, bias, _ = self._parts()
        if self._matrix is None:
            m = np.hstack([factors, bias[:, None]]) if bias.any() else factors
            self._matrix = np.ascontiguousarray(m, dtype=np.float32)
        return self._matrix

    def similar_items(self, item: int, k: int = 10) -> list[Scored]:
        """Items whose factors have the highest cosine with `item`'s."""
        factors, _, _ = self._parts()
        if not 1 <= item < factors.shape[0]:
            raise ModelError(f"item index {item} is outside 1..{factors.shape[0] - 1}")
        norms = np.linalg.norm(factors, axis=1)
        norms[norms == 0] = 1.0
        sims = (factors @ factors[item]) / (norms * norms[item])
        sims[0] = -np.inf
        return top_k(sims, k, exclude=np.array([item]))

    def _arrays(self) -> dict[str, np.ndarray]:
        factors, bias, prior = self._parts()
        return {"item_factors": factors, "item_bias": bias, "prior": prior}

    def _set_arrays(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        self.item_factors_ = arrays["item_factors"]
        self.item_bias_ = arrays["item_bias"]
        self.prior_ = arrays["prior"]
        self._solver = None
        self._matrix = None


class ALS(_FactorModel):
    """Implicit-feedback ALS (implicit.cpu.als); histories folded in by least squares."""

    name: ClassVar[str] = "als"
    config_class: ClassVar[type[BaseModel]] = ALSConfig
    config: ALSConfig

    def _solver_for(self, seed: int) -> AlternatingLeastSquares:
        cfg = self.config
        return AlternatingLeastSquares(
            factors=cfg.embedding_size,
            regularization=cfg.reg,
            alpha=cfg.alpha,
            iterations=cfg.epochs,
            num_threads=cfg.num_threads,
            random_state=seed,
        )

    def _keep(self, factors: np.ndarray, counts: np.ndarray) -> None:
        self._set_factors(factors, np.zeros(factors.shape[0], dtype=np.float32), counts)

    def _fold_in(self, h: sp.csr_matrix) -> np.ndarray:
        """Least-squares user factors (B, d) of the history rows `h`; see the module docstring."""
        factors, _, _ = self._parts()
        if self._solver is None:
            with threadpool_limits(1, "blas"):
                solver = AlternatingLeastSquares(
                    factors=factors.shape[1],
                    regularization=self.config.reg,
                    alpha=self.config.alpha,
                    num_threads=self.config.num_threads,
                )
            solver.item_factors = np.ascontiguousarray(factors[1:])
            self._solver = solver
        with threadpool_limits(1, "blas"):
            users = self._solver.recalculate_user(np.arange(h.shape[0]), h)
        return np.asarray(users, dtype=np.float32).reshape(h.shape[0], -1)


class BPR(_FactorModel):
    """Bayesian personalised ranking (implicit.cpu.bpr); a history's factor is its items' mean.

    implicit's BPR learns a factor per training user but has no fold-in. The mean of the
    history's item factors, ``x_h = (1/|h|) Σ_{i ∈ h} y_i``, scored with BPR's item bias added,
    beat the least-squares fold-in on ML-1M validation (NDCG@10 0.039 vs 0.020, where the
    least-squares factors are so small that the bias alone ranks: popularity).
    """

    name: ClassVar[str] = "bpr"
    config_class: ClassVar[type[BaseModel]] = BPRConfig
    config: BPRConfig

    def _solver_for(self, seed: int) -> BayesianPersonalizedRanking:
        cfg = self.config
        return BayesianPersonalizedRanking(
            factors=cfg.embedding_size,
            learning_rate=cfg.learning_rate,
            regularization=cfg.reg,
            iterations=cfg.epochs,
            num_threads=cfg.num_threads,
            random_state=seed,
        )

    def _keep(self, factors: np.ndarray, counts: np.ndarray) -> None:
        self._set_factors(factors[:, :-1], factors[:, -1], counts)  # last column: the item bias

    def _fold_in(self, h: sp.csr_matrix) -> np.ndarray:
        factors, _, _ = self._parts()
        counts = np.maximum(np.asarray(h.sum(axis=1), dtype=np.float32), 1.0)  # (B, 1)
        return np.asarray(h @ factors[1:], dtype=np.float32) / counts
