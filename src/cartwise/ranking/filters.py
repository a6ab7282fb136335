"""Business rules applied after scoring: availability, category, price range, content type.

Rules run twice: as a boolean mask over a (possibly stale) :class:`CatalogIndex` so the top-k
search only sees eligible items, and on fresh item rows just before the answer is returned, so
an item made unavailable a moment ago is never shown.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import numpy as np

from cartwise.data.catalog import CatalogIndex, item_type
from cartwise.data.schema import Item
from cartwise.errors import InputError


@dataclass(frozen=True)
class Filters:
    """Which items may be shown.

    Attributes:
        category: keep items with this category at any level of their path (case-insensitive).
        min_price: keep items priced at least this (items without a price are dropped).
        max_price: keep items priced at most this (items without a price are dropped).
        item_type: keep items whose ``attributes["type"]`` is this (``product`` when absent).
        all_variants: show every variant of a product; by default a list holds one item per
            variant group (:func:`variant_group`: the same ``attributes["group_id"]``, else the
            same title).
    """

    category: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    item_type: str | None = None
    all_variants: bool = False

    def __post_init__(self) -> None:
        for name in ("min_price", "max_price"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise InputError(f"{name} must be a non-negative number, got {value}", field=name)
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise InputError(
                f"min_price {self.min_price} is above max_price {self.max_price}; swap them",
                field="min_price",
            )

    @property
    def empty(self) -> bool:
        """True when no rule beyond availability applies to single items (variant grouping
        works on the list, not on an item)."""
        return (
            self.category is None
            and self.min_price is None
            and self.max_price is None
            and self.item_type is None
        )


def catalog_mask(catalog: CatalogIndex, filters: Filters) -> np.ndarray:
    """Boolean per catalog row: available and passing every rule."""
    mask = catalog.available.copy()
    if filters.category is not None:
        rows = catalog.categories.get(filters.category.strip().lower())
        keep = np.zeros(catalog.size, dtype=bool)
        if rows is not None:
            keep[rows] = True
        mask &= keep
    with np.errstate(invalid="ignore"):
        if filters.min_price is not None:
            mask &= catalog.price >= filters.min_price
        if filters.max_price is not None:
            mask &= catalog.price <= filters.max_price
    if filters.item_type is not None:
        mask &= catalog.types == filters.item_type.strip().lower()
    return mask


def rejection(item: Item, filters: Filters) -> str | None:
    """Why a fresh item row may not be shown, or None when it passes every rule."""
    if not item.available:
        return "unavailable"
    if filters.category is not None:
        wanted = filters.category.strip().lower()
        if wanted not in {c.lower() for c in item.category}:
            return f"not in category '{filters.category}'"
    if filters.min_price is not None and (item.price is None or item.price < filters.min_price):
        return f"price below {filters.min_price}"
    if filters.max_price is not None and (item.price is None or item.price > filters.max_price):
        return f"price above {filters.max_price}"
    if filters.item_type is not None and item_type(item.attributes) != filters.item_type.lower():
        return f"not of type '{filters.item_type}'"
    return None


def variant_group(item: Item) -> str:
    """The variant group of an item: its declared ``attributes["group_id"]``, else its title
    (case and spacing ignored), else its id (an item without a title is its own group)."""
    declared = (item.attributes or {}).get("group_id")
    if declared is not None and str(declared).strip():
        return "g:" + str(declared).strip()
    title = " ".join(item.title.split()).casefold()
    return "t:" + title if title else "i:" + item.id


def check_category(catalog: CatalogIndex, filters: Filters) -> None:
    """Raise InputError when `filters` names a category no catalog item has (a misspelling
    would otherwise silently empty the list): the message names the closest categories."""
    if filters.category is None:
        return
    wanted = filters.category.strip().lower()
    if wanted in catalog.categories:
        return
    names = sorted(catalog.category_names.values())
    close = difflib.get_close_matches(filters.category, names, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    shown = ", ".join(names[:20]) + (" …" if len(names) > 20 else "")
    raise InputError(
        f"no item is in category '{filters.category}'; {hint}categories: {shown}",
        field="category",
    )
