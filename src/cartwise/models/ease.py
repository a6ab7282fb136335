"""EASE: embarrassingly shallow autoencoder (Steck, WWW 2019), closed form.

With X the binary user × item matrix, G = XᵀX + λI and P = G⁻¹::

    B[i, j] = −P[i, j] / P[j, j]   (i ≠ j),   B[j, j] = 0

A history h scores item j as ``Σ_{i ∈ h} B[i, j]``.

The inverse is dense, so memory grows with the square of the catalog. Fitting works in one
float32 buffer of (n + 1)² values, the size of the weights it returns: the Gram matrix is formed
there a block of columns at a time, factorised and inverted in place (LAPACK ``spotrf`` and
``spotri`` through scipy, overwriting their input), scaled into B and finally shifted into the
weights' layout. The previous version held a float64 Gram matrix while ``numpy.linalg.inv``
kept a copy of it, an identity right-hand side and its output (4 × 8 n² bytes, 17 GiB for 24k
items, where its check counted three), and a 24k-item fit died inside LAPACK with three of them
resident (13.3 GiB). This one needs 4 (n + 1)² bytes plus small blocks (2.4 GiB for 24k items)
and refuses (ResourceError) before allocating anything when even that does not fit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import psutil
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field
from scipy.linalg import lapack

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

#: Columns of the Gram matrix formed, mirrored or scaled per step (bounds the temporaries).
BLOCK = 1024


def available_memory() -> int:
    """Bytes of memory the system can give now."""
    return int(psutil.virtual_memory().available)


def required_memory(n_items: int, n_users: int = 0, n_interactions: int = 0) -> int:
    """Bytes EASE needs to fit, every large allocation counted.

    - the weights, (n + 1)² float32: also the work space of the Gram matrix, its Cholesky
      factor, the inverse and B, all formed in place;
    - one block of Gram columns while it is formed: the sparse product (at most n × BLOCK
      values with 32-bit indices, 8 bytes each) and its dense copy (4 bytes each);
    - the binary interaction matrix in two layouts (CSR and CSC, 8 bytes per interaction
      each, plus row pointers).
    """
    n = n_items
    weights = 4 * (n + 1) ** 2
    block = 12 * n * min(BLOCK, n)
    interactions = 2 * (8 * n_interactions + 8 * (max(n, n_users) + 1))
    return weights + block + interactions


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
        x = binary_matrix(data.matrix)[:, 1:]
        _check_memory(data.name, n, x.shape[0], x.nnz)
        try:
            flat = np.zeros((n + 1) * (n + 1), dtype=np.float32)
        except MemoryError:  # the check passed, but another process took the memory since
            raise ResourceError(_memory_message(data.name, n, x.shape[0], x.nnz)) from None
        work = flat[: n * n].reshape(n, n)  # the first n² values, C-contiguous
        _gram_into(work, x, self.config.reg)
        _invert_in_place(work, data.name)
        _mirror_lower(work)
        _to_b_in_place(work)
        self.weights_ = _shift_to_weights(flat, n)
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


def _memory_message(name: str, n: int, users: int, interactions: int) -> str:
    need, have = required_memory(n, users, interactions), available_memory()
    return (
        f"EASE on '{name}' ({n:,} items) needs about {need / 2**30:.1f} GiB of memory (a dense "
        f"{n + 1:,} × {n + 1:,} float32 matrix and its work space), only {have / 2**30:.1f} GiB "
        "is available; free memory, or use itemknn or als for this catalog (they grow with "
        "the interactions, not the square of the catalog)"
    )


def _check_memory(name: str, n: int, users: int, interactions: int) -> None:
    """Raise ResourceError before allocating when the fit would not fit in memory."""
    if required_memory(n, users, interactions) > available_memory():
        raise ResourceError(_memory_message(name, n, users, interactions))


def _gram_into(out: np.ndarray, x: sp.csr_matrix, reg: float) -> None:
    """out ← XᵀX + reg·I, a block of columns at a time (the sparse product of all columns at
    once can take more memory than the dense result)."""
    xt, cols = x.T.tocsr(), x.tocsc()
    n = out.shape[0]
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        out[:, lo:hi] = (xt @ cols[:, lo:hi]).toarray()
    out[np.diag_indices(n)] += reg


def _invert_in_place(work: np.ndarray, name: str) -> None:
    """Overwrite the lower triangle of the symmetric positive definite `work` with the lower
    triangle of its inverse (Cholesky). LAPACK sees `work.T`, Fortran-ordered, so scipy hands
    it the buffer itself (no copy); its upper triangle is our lower one."""
    factor, info = lapack.spotrf(work.T, lower=False, clean=False, overwrite_a=True)
    if info == 0:
        inverse, info = lapack.spotri(factor, lower=False, overwrite_c=True)
        if not np.shares_memory(inverse, work):
            raise ModelError("ease: LAPACK copied the work buffer; scipy changed its behaviour")
    if info != 0:
        raise ModelError(
            f"EASE on '{name}': the regularised Gram matrix is not positive definite in float32 "
            f"(LAPACK info {info}); raise reg (e.g. --set ease.reg=1000)"
        )


def _mirror_lower(work: np.ndarray) -> None:
    """Copy the lower triangle onto the upper one, block by block (small temporaries)."""
    n = work.shape[0]
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        diag = work[lo:hi, lo:hi]
        diag[np.triu_indices(hi - lo, 1)] = diag.T[np.triu_indices(hi - lo, 1)]
        work[lo:hi, hi:] = work[hi:, lo:hi].T


def _to_b_in_place(p: np.ndarray) -> None:
    """P → B: divide column j by −P[j, j], then zero the diagonal."""
    scale = (-1.0 / np.diag(p)).astype(np.float32)
    for lo in range(0, p.shape[0], BLOCK):
        p[lo : lo + BLOCK] *= scale[None, :]
    p[np.diag_indices(p.shape[0])] = 0.0


def _shift_to_weights(flat: np.ndarray, n: int) -> np.ndarray:
    """The n × n matrix in the first n² values of `flat` → the (n + 1) × (n + 1) weights with
    row and column 0 (padding) zero, in the same buffer. Row i moves from i·n to
    (i + 1)(n + 1) + 1, always forward by more than n, so going from the last row up never
    overwrites a row that has not moved yet."""
    for i in range(n - 1, -1, -1):
        dest = (i + 1) * (n + 1) + 1
        flat[dest : dest + n] = flat[i * n : (i + 1) * n]
    weights = flat.reshape(n + 1, n + 1)
    weights[0, :] = 0.0
    weights[:, 0] = 0.0
    return weights
