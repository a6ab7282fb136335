"""Business rules over a catalog snapshot and over fresh rows."""

from __future__ import annotations

import numpy as np
import pytest

from cartwise.data.catalog import CatalogIndex
from cartwise.data.schema import Item
from cartwise.errors import InputError
from cartwise.ranking.filters import Filters, catalog_mask, rejection


def _rows() -> list[tuple[object, ...]]:
    # id, title, description, category, brand, price, available, attributes, placeholder
    return [
        ("a", "Shoe A", "", ["Sports", "Shoes"], "Acme", 50.0, True, {}, False),
        ("b", "Shoe B", "", ["Sports", "Shoes"], "Acme", 150.0, True, {}, False),
        ("c", "Guide", "", ["Guides"], "", None, True, {"type": "Article"}, False),
        ("d", "Gone", "", ["Sports", "Shoes"], "", 60.0, False, {}, False),
        ("e", "", "", [], "", None, True, {}, True),  # placeholder: never available
    ]


def test_catalog_index_reads_rows() -> None:
    cat = CatalogIndex._from_rows(_rows())
    assert cat.ids == ["a", "b", "c", "d", "e"]
    assert cat.available.tolist() == [True, True, True, False, False]
    assert cat.types.tolist() == ["product", "product", "article", "product", "product"]
    assert cat.leaf == ["Shoes", "Shoes", "Guides", "Shoes", ""]
    assert cat.categories["sports"].tolist() == [0, 1, 3]
    assert np.isnan(cat.price[2])


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(), [True, True, True, False, False]),
        (Filters(category="SHOES"), [True, True, False, False, False]),
        (Filters(max_price=100), [True, False, False, False, False]),
        (Filters(min_price=100), [False, True, False, False, False]),
        (Filters(item_type="article"), [False, False, True, False, False]),
        (Filters(category="nothing"), [False] * 5),
    ],
)
def test_catalog_mask(filters: Filters, expected: list[bool]) -> None:
    assert catalog_mask(CatalogIndex._from_rows(_rows()), filters).tolist() == expected


def test_rejection_on_fresh_rows() -> None:
    item = Item(id="x", category=["Sports", "Shoes"], price=80)
    assert rejection(item, Filters(category="shoes", min_price=10, max_price=80)) is None
    assert rejection(item.model_copy(update={"available": False}), Filters()) == "unavailable"
    assert rejection(item, Filters(max_price=79.99)) == "price above 79.99"
    assert rejection(Item(id="y"), Filters(min_price=1)) == "price below 1"
    assert rejection(item, Filters(item_type="video")) == "not of type 'video'"
    assert rejection(item, Filters(category="Phones")) == "not in category 'Phones'"


def test_bad_price_range_is_an_input_error() -> None:
    with pytest.raises(InputError, match="min_price 5.0 is above max_price 1.0"):
        Filters(min_price=5.0, max_price=1.0)
