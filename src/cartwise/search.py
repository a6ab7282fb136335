"""Personalised search: query text → catalog rows, optionally blended with the shopper's taste.

Two pluggable parts. A :class:`TextMatcher` turns a query into a relevance per catalog row
(:class:`KeywordMatcher` here: BM25 over weighted fields; a semantic matcher over text
embeddings can replace it). :func:`blend` mixes that relevance with the behaviour model's score
for the shopper: with both min-max scaled over the matching rows,
``final = (1 − w) · relevance + w · personal``; only rows that match the query are ranked.

BM25 (Robertson & Zaragoza, 2009) with field weights (title 3, brand 2, category 2,
description 1): tf is the weighted count of the term over fields, |d| the weighted length, and::

    score(q, d) = Σ_{t ∈ q} idf(t) · tf·(k1 + 1) / (tf + k1·(1 − b + b·|d| / avg|d|))
    idf(t)      = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Protocol

import numpy as np

from cartwise.ranking.catalog import CatalogIndex

_log = logging.getLogger(__name__)

FIELD_WEIGHTS: dict[str, float] = {"title": 3.0, "brand": 2.0, "category": 2.0, "description": 1.0}
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def tokens(text: str) -> list[str]:
    """Lower-case word tokens with a plural 's' stripped (shoes → shoe, cases → case)."""
    out = []
    for tok in _TOKEN.findall(text.lower()):
        if len(tok) > 3 and tok.endswith("s") and not tok.endswith("ss"):
            tok = tok[:-1]
        out.append(tok)
    return out


class TextMatcher(Protocol):
    """Query text → relevance per catalog row (0 where the row does not match)."""

    def relevance(self, query: str) -> np.ndarray: ...

    def explain(self, query: str, row: int) -> str: ...


Blender = Callable[[np.ndarray, np.ndarray | None, float], np.ndarray]
"""(relevance per row, personal score per row or None, personalisation weight) → final score."""

MatcherFactory = Callable[[CatalogIndex], TextMatcher]
"""Builds a matcher over a catalog snapshot (e.g. :class:`KeywordMatcher`)."""


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
                toks = tokens(text)
                lengths[row] += weight * len(toks)
                for tok, n in Counter(toks).items():
                    bucket = postings.setdefault(tok, {})
                    bucket[row] = bucket.get(row, 0.0) + weight * n
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
        """BM25 score of every catalog row for `query` (0 = no query term present)."""
        out = np.zeros(self.catalog.size, dtype=np.float64)
        n = self.catalog.size
        for tok in set(tokens(query)):
            found = self._postings.get(tok)
            if found is None:
                continue
            rows, tf = found
            idf = math.log(1.0 + (n - len(rows) + 0.5) / (len(rows) + 0.5))
            out[rows] += idf * tf * (self.k1 + 1) / (tf + self._norm[rows])
        return out

    def explain(self, query: str, row: int) -> str:
        """Which query words the row matched, and in which fields."""
        wanted = dict.fromkeys(tokens(query))
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


def _minmax(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    out = np.zeros(len(values))
    if finite.any():
        lo, hi = values[finite].min(), values[finite].max()
        out[finite] = (values[finite] - lo) / (hi - lo) if hi > lo else 1.0
    return out


def blend(relevance: np.ndarray, personal: np.ndarray | None, weight: float) -> np.ndarray:
    """Final search score per row: -inf where relevance is 0, else the weighted mix."""
    matched = relevance > 0
    out = np.full(len(relevance), -np.inf)
    rel = _minmax(relevance[matched])
    if personal is None or weight <= 0:
        out[matched] = rel
        return out
    out[matched] = (1.0 - weight) * rel + weight * _minmax(personal[matched])
    return out
