"""Top-k by inner product over a large catalog through a faiss index, filters without loss.

A dot-product model (:class:`cartwise.models.vectors.DotProduct`) scores item j for a history
as ``q · v_j``. Scoring every item costs ``n_items × D`` multiply-adds per history plus a pass
over the whole row; from :data:`EXACT_BUDGET` of them (50,000 items at D = 64) serving asks an
index over the item vectors for candidates instead and scores only those, exactly.

Index: faiss HNSW with the inner-product metric below :data:`IVF_FROM` items, IVF-Flat (inner
product) from there, where the graph's build time and memory grow too large. The inner product
is searched directly: the reduction of inner product to L2 by one extra coordinate (Bachrach et
al., 2014) measured here at recall@10 0.04 against 0.94 for the inner-product graph on 100,000
random 64-d vectors, as Morozov & Babenko (NeurIPS 2018) report for similarity graphs.

Filters (availability, category, price, the shopper's excluded items) are a boolean mask over
model indices. The index is asked for more candidates than wanted (:data:`FETCH_FACTOR` × k /
share allowed) and the rejected ones dropped; until the k-th allowed one comes within the
first 1/:data:`MARGIN` of them, it is asked again four times deeper, up to :data:`MAX_FETCH`,
past which (or when so few items pass that a search would mostly find rejects) the allowed
items are scored exactly. Candidates are always re-scored exactly, so the answer is the exact
filtered top-k whenever the index returns it among its candidates. (A faiss ID selector, which
collects allowed items only while it walks the graph, measured recall 0.80 when the 300 best
of 20,000 items were filtered out, against 1.0 here: the depth searched must grow with what
the filter removes, and only the over-fetch sees how much that is.)
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from cartwise.errors import ConfigError

_log = logging.getLogger(__name__)

AnnKind = Literal["auto", "off", "hnsw", "ivf"]

#: Multiply-adds per scored history (items × vector width) from which an index is used: 50,000
#: items at D = 64. Exact scoring of 100,000 × 64 measured ~5-20 ms per history on this 2-core
#: machine under load, an HNSW search 0.3-2 ms.
EXACT_BUDGET = 3_200_000
#: From this many items the index is IVF-Flat rather than HNSW (``auto``).
IVF_FROM = 2_000_000
#: HNSW graph degree and build/search breadth (recall@10 ≥ 0.99 on 20,000 random 64-d vectors).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 128
#: Candidates asked of the index per item wanted and per share of items allowed (at least
#: FETCH_MIN), then re-scored exactly.
FETCH_FACTOR = 4
FETCH_MIN = 64
#: The k-th allowed candidate must come within the first 1/MARGIN of the candidates: well
#: inside the depth searched, where the index's recall is high, not at its edge.
MARGIN = 2
#: Most candidates asked of the index for one query before scoring the allowed items exactly.
MAX_FETCH = 4096
#: The longest item vectors, HEAD_SHARE of the catalog (at least HEAD_MIN), are scored exactly
#: with every search's candidates: learnt factors have very skewed norms (ALS on a Zipf-like
#: catalog: median 0.05, largest 1.5), the few long ones win most inner products, and an
#: inner-product graph reaches them poorly (recall@10 0.78 without, on 5,000 items).
HEAD_SHARE = 0.01
HEAD_MIN = 512
#: Allowed sets at most this large, or this share of the catalog, are scored exactly (cheaper
#: than a graph search that mostly walks rejected items).
EXACT_SUBSET = 2048
EXACT_SHARE = 0.01


def default_threshold(dim: int) -> int:
    """Items from which a `dim`-wide dot-product model is served through an index."""
    return max(1, EXACT_BUDGET // max(1, dim))


@dataclass(frozen=True)
class AnnPolicy:
    """When and how a loaded model gets an index.

    Attributes:
        threshold: catalogs of at least this many items use an index; None derives it from
            the vector width (:func:`default_threshold`: 50,000 items at D = 64).
        kind: ``auto`` (HNSW below :data:`IVF_FROM` items, IVF above), ``hnsw``, ``ivf``, or
            ``off`` (always exact).
    """

    threshold: int | None = None
    kind: AnnKind = "auto"

    def __post_init__(self) -> None:
        if self.threshold is not None and self.threshold < 1:
            raise ConfigError(
                f"ann_threshold must be a number of items ≥ 1 (or unset), got {self.threshold}"
            )

    def threshold_for(self, dim: int) -> int:
        """The item count from which a `dim`-wide model is indexed."""
        return self.threshold if self.threshold is not None else default_threshold(dim)

    def index_kind(self, n_items: int, dim: int) -> Literal["hnsw", "ivf"] | None:
        """The index to build for `n_items` vectors of width `dim`, or None: exact scoring."""
        if self.kind == "off" or n_items < self.threshold_for(dim):
            return None
        if self.kind == "auto":
            return "ivf" if n_items >= IVF_FROM else "hnsw"
        return self.kind


class VectorIndex:
    """An inner-product index over the item vectors of one model version.

    Args:
        items: (n_items + 1, D) item matrix, row 0 the padding (not indexed).
        index: the faiss index over ``items[1:]`` (faiss id i is model index i + 1).
        kind: ``hnsw`` or ``ivf``.
        build_seconds: how long building took.
    """

    def __init__(self, items: np.ndarray, index: Any, kind: str, build_seconds: float) -> None:
        self.items = items
        self.index = index
        self.kind = kind
        self.build_seconds = build_seconds
        norms = np.linalg.norm(items[1:], axis=1)
        size = min(len(norms), max(HEAD_MIN, int(HEAD_SHARE * len(norms))))
        #: model indices of the longest item vectors (see HEAD_SHARE)
        self.head = np.sort(np.argpartition(-norms, size - 1)[:size]).astype(np.int64) + 1

    @property
    def n_items(self) -> int:
        """Indexed items (model indices 1..n_items)."""
        return int(self.items.shape[0] - 1)

    @classmethod
    def build(
        cls, items: np.ndarray, kind: Literal["hnsw", "ivf"] = "hnsw", seed: int = 0
    ) -> VectorIndex:
        """Index `items` (rows 1..n; row 0 the padding) for maximum inner product search."""
        import faiss

        vectors = np.ascontiguousarray(items[1:], dtype=np.float32)
        n, dim = vectors.shape
        if n == 0:
            raise ConfigError("cannot build an item index over an empty catalog")
        started = time.perf_counter()
        index: Any
        if kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            index.hnsw.efSearch = HNSW_EF_SEARCH
        elif kind == "ivf":
            nlist = max(1, min(n // 39, int(4 * math.sqrt(n))))
            index = faiss.IndexIVFFlat(
                faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT
            )
            rng = np.random.default_rng(seed)
            sample = vectors[rng.choice(n, size=min(n, 64 * nlist), replace=False)]
            index.cp.seed = seed
            index.train(sample)
            index.nprobe = max(1, nlist // 10)
        else:
            raise ConfigError(f"unknown index kind '{kind}'; use hnsw or ivf")
        index.add(vectors)
        seconds = time.perf_counter() - started
        _log.info("built a %s index over %d items (D=%d) in %.1fs", kind, n, dim, seconds)
        return cls(np.ascontiguousarray(items, dtype=np.float32), index, kind, seconds)

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best `k` model indices for `query` (D,) among `allowed` (bool per model index;
        index 0 never counts), best first (ties: lower index), with their exact scores; fewer
        only when fewer items are allowed."""
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        n = self.n_items
        n_allowed = n if allowed is None else int(np.count_nonzero(allowed[1:]))
        k = min(k, n_allowed)
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if n_allowed <= max(EXACT_SUBSET, int(EXACT_SHARE * n)):
            return self.exact(q, k, allowed)  # so few pass that a search would mostly walk rejects
        fetch = min(n, max(FETCH_MIN, math.ceil(FETCH_FACTOR * k * n / n_allowed)))
        while True:
            found = self.candidates(q, fetch)
            passing = np.flatnonzero(allowed[found]) if allowed is not None else None
            if passing is not None:
                # the k-th allowed candidate must come in the first 1/MARGIN of the depth
                inside = len(passing) >= k and passing[k - 1] * MARGIN < len(found)
                found = found[passing]
            else:
                inside = len(found) >= k and (k - 1) * MARGIN < fetch
            if inside or fetch >= n:
                head = self.head if allowed is None else self.head[allowed[self.head]]
                found = np.union1d(found, head)  # the longest vectors, always scored
                return _best(found, self.items[found] @ q, k)
            if fetch >= MAX_FETCH:
                return self.exact(q, k, allowed)
            fetch = min(n, MAX_FETCH, fetch * 4)

    def candidates(self, query: np.ndarray, fetch: int) -> np.ndarray:
        """Up to `fetch` model indices the index ranks highest for `query` (D,), in its order."""
        import faiss

        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        params: Any
        if self.kind == "hnsw":
            ef = max(HNSW_EF_SEARCH, fetch)
            params = faiss.SearchParametersHNSW(efSearch=ef)  # type: ignore[attr-defined]
        else:
            params = faiss.SearchParametersIVF(nprobe=self.index.nprobe)  # type: ignore[call-arg]
        _, ids = self.index.search(q, fetch, params=params)
        found: np.ndarray = ids[0]
        return found[found >= 0].astype(np.int64) + 1

    def exact(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` by scoring every allowed item."""
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        if allowed is None:
            scores = self.items[1:] @ q
            return _best(np.arange(1, self.n_items + 1), scores, k)
        rows = np.flatnonzero(allowed[1:]) + 1
        if len(rows) * 4 < self.n_items:  # a few rows: gather them
            return _best(rows, self.items[rows] @ q, k)
        scores = self.items[1:] @ q  # most rows: one contiguous product, then the mask
        return _best(rows, scores[rows - 1], k)


def _best(indices: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The `k` best (index, score) pairs, best first, ties broken by lower index."""
    if len(indices) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        indices, scores = indices[part], scores[part]
    order = np.lexsort((indices, -scores))[:k]
    return indices[order].astype(np.int64), scores[order].astype(np.float32)
