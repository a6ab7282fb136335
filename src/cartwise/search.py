"""Personalised search: query text → catalog rows, blended with the shopper's taste.

A :class:`TextMatcher` turns a query into a relevance per catalog row: :class:`KeywordMatcher`
(BM25 over weighted fields: exact brands and model numbers), :class:`SemanticMatcher` (cosine of
text-encoder vectors: "sneakers" finds running shoes) or :class:`HybridMatcher` (a weighted sum of
both). :func:`parse_query` reads the request's constraints (price range, brands, category; rules
or a checked language model, :mod:`cartwise.text.constraints`) and a reference to something the
shopper owns ("a case for my new phone"). :func:`rank` applies the constraints as filters and
mixes the relevance with the behaviour model's score for the shopper (:func:`blend`: with both
min-max scaled over the matching rows, ``final = (1 − w) · relevance + w · personal``), plus a
bonus for items made for the owned item the request names; only rows that match are ranked.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from sqlalchemy import select

from cartwise.data import tables as t
from cartwise.data.schema import EventKind
from cartwise.data.store import Store
from cartwise.errors import ConfigError
from cartwise.ranking.catalog import CatalogIndex
from cartwise.text import rules
from cartwise.text.constraints import Constraints, parse_request
from cartwise.text.encoder import TextEncoder
from cartwise.text.generator import TextGenerator

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


_FOR = re.compile(r"\bfor\b", re.IGNORECASE)


def _weighted_parts(field: str, text: str, weight: float) -> list[tuple[list[str], float]]:
    """Token lists of a field with their weights. A title's "… for <device>" tail names what
    the product fits, not what it is, so it weighs like the description: "galaxy s24" finds
    the phone before the chargers "for Samsung Galaxy S24"."""
    if field == "title":
        found = list(_FOR.finditer(text))
        if found and found[-1].start() > 0:
            cut = found[-1].start()
            tail_weight = FIELD_WEIGHTS["description"]
            return [(tokens(text[:cut]), weight), (tokens(text[cut:]), tail_weight)]
    return [(tokens(text), weight)]


def content_words(query: str) -> list[str]:
    """The query's tokens without stop words ("a case for my new phone" → case, phone), or all
    of them when every one is a stop word. Keeps "new" from matching the brand New Balance."""
    words = list(dict.fromkeys(tokens(query)))
    return [w for w in words if w not in rules.STOPWORDS] or words


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
                for toks, w in _weighted_parts(name, text, weight):
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


# -- semantic and hybrid matching ---------------------------------------------------------------
def item_texts(catalog: CatalogIndex) -> list[str]:
    """Per catalog row, the text an encoder reads: title, category path, brand, description."""
    f = catalog.fields
    return [
        ". ".join(
            p for p in (f["title"][r], f["category"][r], f["brand"][r], f["description"][r]) if p
        )
        for r in range(catalog.size)
    ]


class SemanticMatcher:
    """Cosine similarity between the query's and each item's text vector (clipped at 0).

    Args:
        catalog: the catalog snapshot; its item texts are encoded once, here.
        encoder: any :class:`cartwise.text.encoder.TextEncoder` (wrap it in ``CachedEncoder``
            so that a new snapshot only encodes new or changed items).
    """

    def __init__(self, catalog: CatalogIndex, encoder: TextEncoder) -> None:
        started = time.perf_counter()
        self.catalog = catalog
        self.encoder = encoder
        self.vectors = encoder.encode(item_texts(catalog))  # (n, d), unit rows
        self._last: tuple[str, np.ndarray] | None = None
        _log.info(
            "semantic index: %d items with %s in %.2fs",
            catalog.size,
            encoder.name,
            time.perf_counter() - started,
        )

    def similarity(self, query: str) -> np.ndarray:
        """Cosine of every row's text vector with the query's (in [-1, 1])."""
        last = self._last  # explaining k rows of one query encodes it once
        if last is not None and last[0] == query:
            return last[1].copy()
        q = self.encoder.encode([query])[0]
        sims: np.ndarray = (self.vectors @ q).astype(np.float64)
        self._last = (query, sims)
        return sims.copy()

    def relevance(self, query: str) -> np.ndarray:
        """Cosine clipped at 0 (0 = unrelated)."""
        out: np.ndarray = np.clip(self.similarity(query), 0.0, None)
        return out

    def explain(self, query: str, row: int) -> str:
        """How close the row's text is to the query."""
        return f"close in meaning to the query (cosine {float(self.similarity(query)[row]):.2f})"


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
    encoder: TextEncoder | None, *, keyword_weight: float = 0.5, semantic_weight: float = 0.5
) -> MatcherFactory:
    """A matcher factory for :class:`cartwise.engine.Engine`: BM25 alone without an encoder."""

    def build(catalog: CatalogIndex) -> TextMatcher:
        keyword = KeywordMatcher(catalog)
        if encoder is None or semantic_weight <= 0:
            if keyword_weight <= 0:
                raise ConfigError(
                    "search needs keyword_weight > 0, or an encoder and a semantic_weight > 0"
                )
            return keyword
        semantic = SemanticMatcher(catalog, encoder)
        return HybridMatcher(
            keyword, semantic, keyword_weight=keyword_weight, semantic_weight=semantic_weight
        )

    return build


# -- the request: constraints and what the shopper owns ---------------------------------------
_MINE = re.compile(
    r"\b(?:for|with|fits?|fitting|compatible\s+with|matching)\s+(?:my|our)\s+"
    r"(?:(?:new|old|current|latest)\s+)*([^\W\d_]+)",
    re.IGNORECASE,
)


_DEVICE = re.compile(
    r"\b(?:for|fits?|fitting|compatible\s+with)\s+(?:(?:an?|the|new)\s+)*[^\W_]+", re.IGNORECASE
)


@dataclass(frozen=True)
class ParsedQuery:
    """A search request read into parts.

    Attributes:
        text: the words to match: the query without its price phrases.
        constraints: price range, brands and category read from the request.
        source: ``"lm"`` when a generator's reading passed every check, else ``"rules"``.
        refers_to: singular noun of something the shopper owns that the request names
            ("phone" in "a case for my new phone"), or None.
    """

    text: str
    constraints: Constraints
    source: str
    refers_to: str | None


def parse_query(
    query: str, catalog: CatalogIndex, generator: TextGenerator | None = None
) -> ParsedQuery:
    """Read constraints (rules, or a generator checked against the request) from `query`.

    A possession phrase ("for my new phone") is cut before the category and brands are read:
    it names what the product must fit, not what is wanted. Brands named only inside the
    device a product must fit ("case for Samsung Galaxy S23") are not brand constraints.
    """
    mine = _MINE.search(query)
    rest = query if mine is None else f"{query[: mine.start()]} {query[mine.end() :]}"
    brands = sorted({b for b in catalog.fields["brand"] if b})
    found, source = parse_request(
        rest, generator, known_categories=sorted(catalog.categories), known_brands=brands
    )
    devices = [m.group(0).lower() for m in _DEVICE.finditer(rest)]
    if found.compatible_with:
        devices.append(found.compatible_with.lower())
    if devices:
        kept = [b for b in found.brands if not any(b.lower() in d for d in devices)]
        found = found.model_copy(update={"brands": kept})
    prices = rules.RuleResult()
    rules.read_prices(query, prices)
    text = query
    for start, end in sorted(prices.used, reverse=True):
        text = f"{text[:start]} {text[end:]}"
    refers = tokens(mine.group(1)) if mine else []
    return ParsedQuery(
        " ".join(text.split()) or query, found, source, refers[0] if refers else None
    )


def constraint_mask(catalog: CatalogIndex, constraints: Constraints) -> np.ndarray:
    """Rows within the request's price range and of one of its brands (all rows if none)."""
    mask = np.ones(catalog.size, dtype=bool)
    with np.errstate(invalid="ignore"):
        if constraints.min_price is not None:
            mask &= catalog.price >= constraints.min_price
        if constraints.max_price is not None:
            mask &= catalog.price <= constraints.max_price
    if constraints.brands:
        wanted = {b.lower() for b in constraints.brands}
        mask &= np.fromiter((b.lower() in wanted for b in catalog.fields["brand"]), dtype=bool)
    return mask


def owned_item(
    refers_to: str, history: Sequence[tuple[str, str]], catalog: CatalogIndex
) -> str | None:
    """The shopper's item a request refers to: the latest purchase (else latest positive event)
    whose leaf category ends with the noun (``"phone"`` → a row in "Phones", not "Phone Cases").

    Args:
        refers_to: singular noun from :attr:`ParsedQuery.refers_to`.
        history: (item_id, event kind) oldest first.
        catalog: where the items' categories are read.
    """
    for purchases_only in (True, False):
        for item_id, kind in reversed(history):
            row = catalog.position.get(item_id)
            if row is None or (purchases_only and kind != EventKind.PURCHASE.value):
                continue
            leaf = tokens(catalog.leaf[row])
            if leaf and leaf[-1] == refers_to:
                return item_id
    return None


def compatibility_index(store: Store, catalog: CatalogIndex) -> dict[str, np.ndarray]:
    """Item id → catalog rows of the items made for it (their ``attributes["compatible_with"]``)."""
    found: dict[str, list[int]] = {}
    c = t.items.c
    with store.engine.connect() as conn:
        for item_id, attributes in conn.execute(select(c.id, c.attributes)):
            target = (attributes or {}).get("compatible_with")
            row = catalog.position.get(str(item_id))
            if target and row is not None:
                found.setdefault(str(target), []).append(row)
    return {k: np.asarray(v, dtype=np.int64) for k, v in found.items()}


def named_categories(parsed: ParsedQuery, catalog: CatalogIndex) -> np.ndarray:
    """Rows in the category the request names, or (when the parser found none) in a leaf
    category whose head noun is a word of the request outside its possession phrase ("a case
    for my new phone" → "Phone Cases", not "Phones")."""
    out = np.zeros(catalog.size, dtype=bool)
    names = [parsed.constraints.category] if parsed.constraints.category else []
    if not names:
        mine = _MINE.search(parsed.text)
        rest = parsed.text if mine is None else parsed.text[: mine.start()]
        words = set(tokens(rest)) - rules.STOPWORDS
        for leaf in set(catalog.leaf):
            head = tokens(leaf)
            if head and head[-1] in words:
                names.append(leaf)
    for name in names:
        out[catalog.categories.get(name.lower(), np.zeros(0, dtype=np.int64))] = True
    return out


# -- ranking ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchWeights:
    """How the parts of a personalised search add up (see :func:`rank`).

    Attributes:
        personal: share of the shopper's taste (the model's scores for their latest history)
            in the blend with text relevance; 0 = text only.
        owned: bonus for items made for the item a request refers to ("my new phone").
        category: bonus for items in a category the request names. A bonus rather than a filter:
            shoppers' nouns are loose ("running shoes" should still show the guide to them).
    """

    personal: float = 0.3
    owned: float = 1.0
    category: float = 0.1


@dataclass(frozen=True)
class Ranking:
    """Final scores per catalog row (-inf: not shown) and what produced them.

    Attributes:
        scores: final score per row.
        relevance: text relevance per row after the filters and the request's constraints.
        fits: rows made for the owned item the request refers to.
        owned: that item's id, or None.
        relaxed: the request's constraints left nothing, so they were not applied.
    """

    scores: np.ndarray
    relevance: np.ndarray
    fits: np.ndarray
    owned: str | None
    relaxed: bool


def rank(
    parsed: ParsedQuery,
    matcher: TextMatcher,
    catalog: CatalogIndex,
    *,
    allowed: np.ndarray,
    personal: np.ndarray | None = None,
    owned: str | None = None,
    compatible: Mapping[str, np.ndarray] | None = None,
    weights: SearchWeights | None = None,
    blender: Blender = blend,
) -> Ranking:
    """Score every catalog row for a parsed request.

    ``final = blender(relevance, personal, w_personal) + w_owned · fits + w_category · in_cat``
    over the rows whose relevance is positive, where `relevance` is the matcher's score on rows
    that are `allowed` and meet the request's price and brand constraints (dropped, with
    ``relaxed``, when no row would match with them).
    """
    weights = weights or SearchWeights()
    relevance = matcher.relevance(parsed.text).astype(np.float64)
    relevance[~allowed] = 0.0
    keep = constraint_mask(catalog, parsed.constraints)
    relaxed = not (relevance[keep] > 0).any() and bool((relevance > 0).any())
    if not relaxed:
        relevance[~keep] = 0.0
    final = blender(relevance, personal, weights.personal)
    matched = np.isfinite(final)
    fits = np.zeros(catalog.size, dtype=bool)
    if owned is not None and compatible is not None and owned in compatible:
        fits[compatible[owned]] = True
        final[fits & matched] += weights.owned
    if weights.category:
        final[named_categories(parsed, catalog) & matched] += weights.category
    return Ranking(final, relevance, fits & matched, owned, relaxed)
