"""Schema validation: the rules every record obeys before it reaches the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from cartwise.data.schema import Event, EventKind, Item


def test_item_text_joins_title_category_brand_description() -> None:
    item = Item(
        id="1",
        title="Galaxy S23",
        category=["Phones", "Android"],
        brand="Samsung",
        description="128 GB",
    )
    assert item.text == "Galaxy S23. Phones > Android. Samsung. 128 GB"


def test_naive_and_offset_times_become_utc() -> None:
    naive = Event(
        event_id="a", user_id="u", item_id="i", kind="view", timestamp=datetime(2024, 1, 1, 10)
    )
    paris = Event(
        event_id="b",
        user_id="u",
        item_id="i",
        kind="view",
        timestamp=datetime(2024, 1, 1, 11, tzinfo=timezone(timedelta(hours=1))),
    )
    assert naive.timestamp == paris.timestamp == datetime(2024, 1, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "view"}, "needs an item_id"),
        ({"kind": "search"}, "needs the query text"),
        ({"kind": "Tele port!", "item_id": "i"}, "is not an event kind; use a built-in kind"),
        ({"kind": "x" * 33, "item_id": "i"}, "at most 32 characters"),
        ({"kind": "favourite"}, "needs an item_id"),
        ({"kind": "view", "item_id": "i", "colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_events_are_rejected(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Event(event_id="e", user_id="u", timestamp=datetime(2024, 1, 1), **fields)


def test_built_in_kinds_become_the_enum_and_shop_kinds_stay_names() -> None:
    view = Event(
        event_id="e", user_id="u", item_id="i", kind="view", timestamp=datetime(2024, 1, 1)
    )
    assert view.kind is EventKind.VIEW
    fav = view.model_copy(update={"kind": "favourite"})
    fav = Event.model_validate(fav.model_dump())
    assert fav.kind == "favourite" and not isinstance(fav.kind, EventKind)
    assert Event.model_validate_json(fav.model_dump_json()) == fav  # the store checks declared


def test_negative_price_rejected() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Item(id="x", price=-1)


def test_event_kinds_include_the_store_vocabulary() -> None:
    assert {k.value for k in EventKind} >= {
        "view",
        "click",
        "add_to_cart",
        "remove_from_cart",
        "purchase",
        "rating",
        "search",
        "impression",
    }
