"""The search request read into parts: constraints, what the shopper owns, named categories.

:func:`parse_query` reads the request's constraints (price range, brands, category; rules or a
checked language model, :mod:`cartwise.text.constraints`) and a reference to something the
shopper owns ("a case for my new phone"); :func:`owned_item` finds that item in the shopper's
history (:func:`cartwise.data.catalog.compatibility_index` gives the items made for it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cartwise.data.catalog import CatalogIndex
from cartwise.data.schema import EventKind
from cartwise.search.base import content_words, tokens
from cartwise.text import rules
from cartwise.text.constraints import Constraints, parse_request
from cartwise.text.generator import TextGenerator

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
    parsed: ParsedQuery,
    history: Sequence[tuple[str, str]],
    catalog: CatalogIndex,
    compatible: Mapping[str, np.ndarray],
) -> str | None:
    """The shopper's product a request is about, read from their own events, or None.

    Candidates are what the shopper bought that the catalog has accessories for (items whose
    ``compatible_with`` names it), latest first. The request is about one of them when it
    names it ("I just bought a new iPhone": a word of its title or brand), or when it asks for
    a category holding accessories made for it ("a case", "charger"), or when it refers to
    "my <noun>" ("a case for my new phone": the latest purchase, else the latest positive
    event, whose leaf category ends with the noun).

    Args:
        parsed: the request read by :func:`parse_query`.
        history: (item_id, event kind) oldest first.
        catalog: where the items' titles and categories are read.
        compatible: item id → catalog rows of the items made for it.
    """
    bought = [i for i, kind in reversed(history) if kind == EventKind.PURCHASE.value]
    owned = [i for i in dict.fromkeys(bought) if i in compatible and i in catalog.position]
    words = set(content_words(parsed.text)) - rules.STOPWORDS
    named = _best_named(owned, words, catalog)
    if named is not None:
        return named
    wanted = named_categories(parsed, catalog)
    for item in owned:
        if wanted[compatible[item]].any():
            return item
    return _referred(parsed.refers_to, history, catalog) if parsed.refers_to else None


def _best_named(owned: list[str], words: set[str], catalog: CatalogIndex) -> str | None:
    """The owned item whose title and brand share the most words with the request (the
    latest purchase on ties), or None when none shares any."""
    best, overlap = None, 0
    for item in owned:
        row = catalog.position[item]
        name = set(tokens(catalog.fields["title"][row])) | set(tokens(catalog.fields["brand"][row]))
        shared = len(words & (name - rules.STOPWORDS))
        if shared > overlap:
            best, overlap = item, shared
    return best


def _referred(
    refers_to: str, history: Sequence[tuple[str, str]], catalog: CatalogIndex
) -> str | None:
    """The latest purchase (else latest positive event) whose leaf category ends with the noun
    (``"phone"`` → a row in "Phones", not "Phone Cases")."""
    for purchases_only in (True, False):
        for item_id, kind in reversed(history):
            row = catalog.position.get(item_id)
            if row is None or (purchases_only and kind != EventKind.PURCHASE.value):
                continue
            leaf = tokens(catalog.leaf[row])
            if leaf and leaf[-1] == refers_to:
                return item_id
    return None


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
