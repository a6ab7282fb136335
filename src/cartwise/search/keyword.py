"""Keyword matching: BM25 over the weighted fields of a catalog snapshot.

BM25 (Robertson & Zaragoza, 2009) with field weights (title 3, brand 2, category 2,
description 1): tf is the weighted count of the term over fields, |d| the weighted length, and::

    score(q, d) = Σ_{t ∈ q} idf(t) · tf·(k1 + 1) / (tf + k1·(1 − b + b·|d| / avg|d|))
    idf(t)      = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter

import numpy as np

from cartwise.data.catalog import CatalogIndex
from cartwise.search.base import FIELD_WEIGHTS, content_words, tokens, weighted_parts

_log = logging.getLogger(__name__)


class KeywordMatcher:
    """BM25 over title, brand, category and description of a :class:`CatalogIndex`."""

    def __init__(self, catalog: CatalogIndex, *, k1: float = 1.2, b: float = 0.75) -> None:
        started = time.perf_counter()
        self.catalog = catalog
        self.k1, self.b = k1, b
        postings: dict[str, dict[int, float]] = {}
        lengths = np.zeros(catalog.size, dtype=np.float64)
        for name, weight in FIELD_WEIGHTS.items():
            for row, text in enumerate(catalog.fields[name]):
                for toks, w in weighted_parts(name, text, weight):
                    lengths[row] += w * len(toks)
                    for tok, n in Counter(toks).items():
                        bucket = postings.setdefault(tok, {})
                        bucket[row] = bucket.get(row, 0.0) + w * n
        self._postings = {
            tok: (np.fromiter(rows, dtype=np.int64), np.fromiter(rows.values(), dtype=np.float64))
            for tok, rows in postings.items()
        }
        self._norm = k1 * (1 - b + b * lengths / max(float(lengths.mean()), 1e-9))
        _log.info(
            "keyword index: %d terms over %d items in %.2fs",
            len(self._postings),
            catalog.size,
            time.perf_counter() - started,
        )

    def relevance(self, query: str) -> np.ndarray:
        """BM25 score of every catalog row for `query`'s content words (0 = none present)."""
        out = np.zeros(self.catalog.size, dtype=np.float64)
        n = self.catalog.size
        for tok in content_words(query):
            found = self._postings.get(tok)
            if found is None:
                continue
            rows, tf = found
            idf = math.log(1.0 + (n - len(rows) + 0.5) / (len(rows) + 0.5))
            out[rows] += idf * tf * (self.k1 + 1) / (tf + self._norm[rows])
        return out

    def explain(self, query: str, row: int) -> str:
        """Which query words the row matched, and in which fields."""
        wanted = dict.fromkeys(content_words(query))
        by_words: dict[tuple[str, ...], list[str]] = {}
        for name in FIELD_WEIGHTS:
            present = set(tokens(self.catalog.fields[name][row]))
            hits = tuple(w for w in wanted if w in present)
            if hits:
                by_words.setdefault(hits, []).append(name)
        parts = [
            f"{', '.join(repr(w) for w in words)} in {', '.join(fields)}"
            for words, fields in by_words.items()
        ]
        return "matches " + "; ".join(parts) if parts else "matches the query"
