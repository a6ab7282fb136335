"""Records Cartwise stores: items, users and events.

External ids are strings chosen by the store; models only ever see contiguous integers
(see :mod:`cartwise.data.dataset`). Timestamps are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ID_MAX = 256


def utcnow() -> datetime:
    """Current time as an aware UTC datetime."""
    return datetime.now(UTC)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:00-14:00 is year 10000 in UTC: a ValueError makes it a field error
        raise ValueError(
            f"{value.isoformat()} is outside the dates Cartwise can store (years 1 to 9999 in "
            "UTC); send the real time, with its zone"
        ) from None


class EventKind(StrEnum):
    """What a shopper did. Values are the strings used in files and over HTTP."""

    VIEW = "view"
    CLICK = "click"
    ADD_TO_CART = "add_to_cart"
    REMOVE_FROM_CART = "remove_from_cart"
    PURCHASE = "purchase"
    RETURN = "return"
    RATING = "rating"
    SEARCH = "search"
    IMPRESSION = "impression"


#: Kinds that express interest in an item and feed the behaviour models by default.
POSITIVE_KINDS: frozenset[EventKind] = frozenset(
    {EventKind.VIEW, EventKind.CLICK, EventKind.ADD_TO_CART, EventKind.PURCHASE, EventKind.RATING}
)

#: Kinds that must name an item.
ITEM_KINDS: frozenset[EventKind] = frozenset(set(EventKind) - {EventKind.SEARCH})


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Item(_Record):
    """A product (or any recommendable thing: article, video; `attributes["type"]` says which)."""

    id: str = Field(min_length=1, max_length=_ID_MAX)
    title: str = ""
    description: str = ""
    category: list[str] = Field(default_factory=list, description="path, most general first")
    brand: str = ""
    # strict: a number must be sent as a number ("5" and true are errors, not 5.0 and 1.0)
    price: float | None = Field(default=None, ge=0, strict=True)
    currency: str = "USD"
    available: bool = Field(default=True, strict=True)
    attributes: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _as_utc(value)

    @property
    def text(self) -> str:
        """Title, category path, brand and description as one string for text encoders."""
        parts = [self.title, " > ".join(self.category), self.brand, self.description]
        return ". ".join(p for p in parts if p)


class User(_Record):
    """A shopper. Personal data should not be put in attributes; ids should be pseudonymous."""

    id: str = Field(min_length=1, max_length=_ID_MAX)
    attributes: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _as_utc(value)


class Event(_Record):
    """One thing a shopper did, at one time.

    `value` is the rating for `rating`, the quantity for cart and purchase events, or an amount;
    `query` is the text of a `search`. `event_id` makes appends idempotent.
    """

    event_id: str = Field(min_length=1, max_length=_ID_MAX)
    user_id: str = Field(min_length=1, max_length=_ID_MAX)
    session_id: str | None = Field(default=None, max_length=_ID_MAX)
    item_id: str | None = Field(default=None, max_length=_ID_MAX)
    kind: EventKind
    value: float | None = Field(default=None, strict=True)
    query: str | None = None
    timestamp: datetime
    context: dict[str, Any] = Field(default_factory=dict)

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _as_utc(value)

    @model_validator(mode="after")
    def _item_or_query(self) -> Event:
        if self.kind in ITEM_KINDS and not self.item_id:
            raise ValueError(f"a '{self.kind}' event needs an item_id")
        if self.kind is EventKind.SEARCH and not (self.query or "").strip():
            raise ValueError("a 'search' event needs the query text in 'query'")
        return self
