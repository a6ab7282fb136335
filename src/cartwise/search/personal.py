"""Ranking a parsed request: constraints as filters, relevance blended with the shopper's taste.

:func:`rank` mixes the relevance with the behaviour model's score for the shopper
(:func:`blend`: with both min-max scaled over the matching rows,
``final = (1 − w) · relevance + w · personal``), plus a bonus for items made for the owned item
the request names and for items in a category it names; only rows that match are ranked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cartwise.data.catalog import CatalogIndex
from cartwise.search.base import Blender, TextMatcher
from cartwise.search.query import ParsedQuery, constraint_mask, named_categories


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
