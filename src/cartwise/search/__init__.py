"""Personalised search: query text → catalog rows, blended with the shopper's taste.

A :class:`TextMatcher` turns a query into a relevance per catalog row: :class:`KeywordMatcher`
(BM25 over weighted fields: exact brands and model numbers, :mod:`~cartwise.search.keyword`),
:class:`SemanticMatcher` (cosine of text-encoder vectors: "sneakers" finds running shoes) or
:class:`HybridMatcher` (a weighted sum of both, :mod:`~cartwise.search.semantic`);
:func:`matcher_from_settings` picks one from the settings (hybrid with MiniLM when the ``lm``
extra is installed, :mod:`~cartwise.search.factory`). :func:`parse_query` reads the request's
constraints and a reference to something the shopper owns (:mod:`~cartwise.search.query`).
:func:`rank` applies the constraints as filters and mixes the relevance with the behaviour
model's score for the shopper (:mod:`~cartwise.search.personal`).
"""

from cartwise.search.base import (
    FIELD_WEIGHTS,
    Blender,
    MatcherFactory,
    TextMatcher,
    content_words,
    tokens,
)
from cartwise.search.factory import lm_available, matcher_from_settings
from cartwise.search.keyword import KeywordMatcher
from cartwise.search.personal import Ranking, SearchWeights, blend, rank
from cartwise.search.query import (
    ParsedQuery,
    constraint_mask,
    named_categories,
    owned_item,
    parse_query,
)
from cartwise.search.semantic import HybridMatcher, SemanticMatcher, hybrid_factory, item_texts

__all__ = [
    "FIELD_WEIGHTS",
    "Blender",
    "HybridMatcher",
    "KeywordMatcher",
    "MatcherFactory",
    "ParsedQuery",
    "Ranking",
    "SearchWeights",
    "SemanticMatcher",
    "TextMatcher",
    "blend",
    "constraint_mask",
    "content_words",
    "hybrid_factory",
    "item_texts",
    "lm_available",
    "matcher_from_settings",
    "named_categories",
    "owned_item",
    "parse_query",
    "rank",
    "tokens",
]
