"""What every part of search shares: query/field tokens and the matcher interfaces."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

import numpy as np

from cartwise.data.catalog import CatalogIndex
from cartwise.text import rules

FIELD_WEIGHTS: dict[str, float] = {"title": 3.0, "brand": 2.0, "category": 2.0, "description": 1.0}
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_FOR = re.compile(r"\bfor\b", re.IGNORECASE)


def tokens(text: str) -> list[str]:
    """Lower-case word tokens with a plural 's' stripped (shoes → shoe, cases → case)."""
    out = []
    for tok in _TOKEN.findall(text.lower()):
        if len(tok) > 3 and tok.endswith("s") and not tok.endswith("ss"):
            tok = tok[:-1]
        out.append(tok)
    return out


def weighted_parts(field: str, text: str, weight: float) -> list[tuple[list[str], float]]:
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
