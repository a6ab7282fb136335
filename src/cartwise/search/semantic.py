"""Semantic and hybrid matching: cosine of text-encoder vectors, alone or mixed with BM25.

"sneakers" finds running shoes although they share no word. Item vectors are computed once per
catalog snapshot, when its matcher is built; a later snapshot reuses the vectors of every item
whose text did not change (and a :class:`~cartwise.text.encoder.CachedEncoder` keeps them in the
store across processes), so only new or edited items reach the model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np

from cartwise.data.catalog import CatalogIndex
from cartwise.errors import ConfigError
from cartwise.search.base import MatcherFactory, TextMatcher
from cartwise.search.keyword import KeywordMatcher
from cartwise.text.encoder import TextEncoder

_log = logging.getLogger(__name__)


def item_texts(catalog: CatalogIndex) -> list[str]:
    """Per catalog row, the text an encoder reads: title, category path, brand, description."""
    f = catalog.fields
    return [
        ". ".join(
            p for p in (f["title"][r], f["category"][r], f["brand"][r], f["description"][r]) if p
        )
        for r in range(catalog.size)
    ]


#: Random letter strings encoded to learn how close a query that means nothing gets to the
#: catalog (see :meth:`SemanticMatcher.null_floor`).
NULL_QUERIES = 48


def null_queries() -> list[str]:
    """The random letter strings the null floor is measured with (the same every time)."""
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, size=int(rng.integers(4, 13))))
            for _ in range(NULL_QUERIES)]  # fmt: skip


class SemanticMatcher:
    """Cosine similarity between the query's and each item's text vector, counted only above
    the catalog's *null floor*: the cosine a meaningless query reaches (0 = unrelated).

    Every query has some cosine with every item, so without a floor a query that means nothing
    ("zzzzqqqx") would still return the items nearest to it. The floor is measured on this
    catalog with this encoder, not set by hand: the 95th percentile, over
    :data:`NULL_QUERIES` random letter strings, of each string's best cosine with any item.

    Args:
        catalog: the catalog snapshot; its item texts are encoded once, here.
        encoder: any :class:`cartwise.text.encoder.TextEncoder` for the item texts (wrap it in
            ``CachedEncoder`` so that the vectors are kept in the store).
        query_encoder: encodes queries (default: `encoder`); the same model without the store
            cache, so that shoppers' queries are not written to the store.
        previous: the matcher of the previous snapshot: vectors of unchanged texts are reused.
    """

    def __init__(
        self,
        catalog: CatalogIndex,
        encoder: TextEncoder,
        *,
        query_encoder: TextEncoder | None = None,
        previous: SemanticMatcher | None = None,
    ) -> None:
        started = time.perf_counter()
        self.catalog = catalog
        self.encoder = encoder
        self.query_encoder = query_encoder or encoder
        self.texts = item_texts(catalog)
        self.vectors, encoded = _encode_changed(self.texts, encoder, previous)  # (n, d), unit
        self._last: tuple[str, np.ndarray] | None = None
        same = previous is not None and previous.query_encoder.name == self.query_encoder.name
        # the random queries' vectors depend on the encoder only: encoded once per process
        self.null_vectors: np.ndarray = (
            previous.null_vectors if previous is not None and same
            else self.query_encoder.encode(null_queries())
        )  # fmt: skip
        self.floor = self.null_floor()
        _log.info(
            "semantic index: %d items (%d encoded) with %s in %.2fs",
            catalog.size,
            encoded,
            encoder.name,
            time.perf_counter() - started,
        )

    def similarity(self, query: str) -> np.ndarray:
        """Cosine of every row's text vector with the query's (in [-1, 1])."""
        last = self._last  # explaining k rows of one query encodes it once
        if last is not None and last[0] == query:
            return last[1].copy()
        q = self.query_encoder.encode([query])[0]
        sims: np.ndarray = (self.vectors @ q).astype(np.float64)
        self._last = (query, sims)
        return sims.copy()

    def null_floor(self) -> float:
        """The cosine a meaningless query reaches with this catalog (see the class docstring)."""
        if not len(self.vectors):
            return 0.0
        best = (self.vectors @ self.null_vectors.T).max(axis=0)  # (queries,)
        return float(np.quantile(best.astype(np.float64), 0.95))

    def relevance(self, query: str) -> np.ndarray:
        """Cosine where it is above the null floor, else 0 (unrelated)."""
        sims = self.similarity(query)
        out: np.ndarray = np.where(sims > self.floor, sims, 0.0)
        return out

    def explain(self, query: str, row: int) -> str:
        """How close the row's text is to the query."""
        return f"close in meaning to the query (cosine {float(self.similarity(query)[row]):.2f})"


def _encode_changed(
    texts: Sequence[str], encoder: TextEncoder, previous: SemanticMatcher | None
) -> tuple[np.ndarray, int]:
    """Vectors of `texts`, copied from `previous` where it holds the same text of the same
    model; the others encoded in one call. Returns the vectors and how many were encoded."""
    if previous is None or previous.encoder.name != encoder.name or not len(previous.texts):
        return encoder.encode(texts), len(texts)
    known = {text: row for row, text in enumerate(previous.texts)}
    rows = np.fromiter((known.get(t, -1) for t in texts), dtype=np.int64, count=len(texts))
    out = np.empty((len(texts), previous.vectors.shape[1]), dtype=np.float32)
    hit = rows >= 0
    out[hit] = previous.vectors[rows[hit]]
    todo = np.flatnonzero(~hit)
    if len(todo):
        out[todo] = encoder.encode([texts[int(i)] for i in todo])
    return out, len(todo)


class HybridMatcher:
    """Weighted sum of BM25 (exact brands, model numbers) and semantic similarity.

    Each part is scaled to [0, 1] first: BM25 by its maximum over the catalog (so a row without
    any query word stays 0), the clipped cosine by its maximum. Then
    ``relevance = (w_k · bm25 + w_s · cosine) / (w_k + w_s)``. A weight of 0 leaves that part out.
    """

    def __init__(
        self,
        keyword: KeywordMatcher,
        semantic: SemanticMatcher | None,
        *,
        keyword_weight: float = 0.5,
        semantic_weight: float = 0.5,
    ) -> None:
        if keyword_weight < 0 or semantic_weight < 0 or keyword_weight + semantic_weight <= 0:
            raise ConfigError(
                f"search weights keyword={keyword_weight}, semantic={semantic_weight}: "
                "use non-negative weights with a positive sum"
            )
        if semantic is None and semantic_weight > 0:
            raise ConfigError("semantic_weight > 0 needs a SemanticMatcher (an encoder)")
        self.keyword, self.semantic = keyword, semantic
        self.weights = (keyword_weight, semantic_weight)

    def parts(self, query: str) -> dict[str, np.ndarray]:
        """The scaled keyword and semantic relevance per row (only the weighted parts)."""
        out: dict[str, np.ndarray] = {}
        if self.weights[0] > 0:
            out["keyword"] = _scale_by_max(self.keyword.relevance(query))
        if self.weights[1] > 0 and self.semantic is not None:
            out["semantic"] = _scale_by_max(self.semantic.relevance(query))
        return out

    def relevance(self, query: str) -> np.ndarray:
        """Weighted mix of the scaled parts."""
        parts = self.parts(query)
        total = sum(self.weights)
        mixed = self.weights[0] * parts.get("keyword", 0.0) + self.weights[1] * parts.get(
            "semantic", 0.0
        )
        return np.asarray(mixed, dtype=np.float64) / total

    def explain(self, query: str, row: int) -> str:
        """The keyword match, else (or also) the semantic closeness."""
        said = []
        if self.weights[0] > 0 and self.keyword.relevance(query)[row] > 0:
            said.append(self.keyword.explain(query, row))
        if self.weights[1] > 0 and self.semantic is not None:
            said.append(self.semantic.explain(query, row))
        return "; ".join(said) or "matches the query"


def _scale_by_max(values: np.ndarray) -> np.ndarray:
    top = float(values.max(initial=0.0))
    return values / top if top > 0 else np.zeros_like(values)


def hybrid_factory(
    encoder: TextEncoder | None,
    *,
    keyword_weight: float = 0.5,
    semantic_weight: float = 0.5,
    query_encoder: TextEncoder | None = None,
) -> MatcherFactory:
    """A matcher factory for :class:`cartwise.serving.engine.Engine`: BM25 alone without an encoder.

    The factory remembers the semantic matcher it built last, so the matcher of a new catalog
    snapshot only encodes the items whose text is new (see :class:`SemanticMatcher`).
    """
    last: list[SemanticMatcher] = []

    def build(catalog: CatalogIndex) -> TextMatcher:
        keyword = KeywordMatcher(catalog)
        if encoder is None or semantic_weight <= 0:
            if keyword_weight <= 0:
                raise ConfigError(
                    "search needs keyword_weight > 0, or an encoder and a semantic_weight > 0"
                )
            return keyword
        previous = last[0] if last else None
        semantic = SemanticMatcher(catalog, encoder, query_encoder=query_encoder, previous=previous)
        last[:] = [semantic]
        return HybridMatcher(
            keyword, semantic, keyword_weight=keyword_weight, semantic_weight=semantic_weight
        )

    return build
