"""Helpers shared by the similarity and factor models: histories as sparse rows, cold start.

Every non-sequential model scores a batch of histories the same way: the histories become the rows
of a sparse (batch × items) matrix that is multiplied by the model's item-to-item matrix or item
factors. Rows with an empty history (a shopper we know nothing about yet) get the training
popularity instead, so a new user still receives a sensible ranking.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from cartwise.models.base import Query


def history_matrix(queries: Sequence[Query], n_columns: int) -> sp.csr_matrix:
    """Histories as a binary CSR matrix of shape (len(queries), n_columns).

    Repeated items count once: the models built on it treat interactions as implicit, binary
    feedback, as they were trained.
    """
    lengths = np.fromiter((q.history.size for q in queries), dtype=np.int64, count=len(queries))
    rows = np.repeat(np.arange(len(queries), dtype=np.int64), lengths)
    cols = (
        np.concatenate([q.history for q in queries]).astype(np.int64)
        if lengths.sum()
        else np.zeros(0, dtype=np.int64)
    )
    data = np.ones(len(cols), dtype=np.float32)
    m = sp.csr_matrix((data, (rows, cols)), shape=(len(queries), n_columns), dtype=np.float32)
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def binary_matrix(matrix: sp.spmatrix) -> sp.csr_matrix:
    """A copy of `matrix` (CSR) with every stored non-zero set to 1 (float32)."""
    m = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    m.eliminate_zeros()
    m.data[:] = 1.0
    return m


def popularity_prior(counts: np.ndarray) -> np.ndarray:
    """Counts scaled to [0, 1] (float32) with index 0 left at 0: the cold-start scores."""
    prior = np.asarray(counts, dtype=np.float64).copy()
    prior[0] = 0.0
    top = prior.max()
    return (prior / top if top > 0 else prior).astype(np.float32)


def fill_cold_rows(scores: np.ndarray, queries: Sequence[Query], prior: np.ndarray) -> np.ndarray:
    """Replace the rows of empty histories by `prior` (in place) and return `scores`."""
    for row, q in enumerate(queries):
        if q.history.size == 0:
            scores[row] = prior
    return scores
