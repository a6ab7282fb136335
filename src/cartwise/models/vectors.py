"""Dot-product models: a query vector per history and one vector per item.

A model whose score of item j for history h is ``q_h · v_j`` (SASRec: the last hidden state
and the tied item table; ALS and BPR: the folded-in user factor and the item factors, BPR's
item bias as one more column against a constant 1) can be served from an approximate
nearest-neighbour index over ``v`` (:mod:`cartwise.ranking.ann`) instead of scoring the whole
catalog. An empty history is scored by the model's popularity row, not by a vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from cartwise.models.base import Query


@runtime_checkable
class DotProduct(Protocol):
    """A model whose scores are inner products.

    For every query with a non-empty history, ``score_many([q])[0][1:]`` equals
    ``query_vectors([q])[0] @ item_matrix()[1:].T`` (to float rounding).
    """

    def query_vectors(self, queries: Sequence[Query]) -> np.ndarray:
        """(len(queries), D) float32; rows of empty histories are zeros (they get the
        popularity row instead)."""
        ...

    def item_matrix(self) -> np.ndarray:
        """(n_items + 1, D) float32, row 0 (padding) zeros; read-only, do not modify."""
        ...


def dot_product(model: object) -> DotProduct | None:
    """`model` when it scores by inner products, else None."""
    return model if isinstance(model, DotProduct) else None
