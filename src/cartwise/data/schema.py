"""Records Cartwise stores: items, users and events.

External ids are strings chosen by the store; models only ever see contiguous integers
(see :mod:`cartwise.data.dataset`). Timestamps are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ID_MAX = 256
_KIND_MAX = 32
_KIND_NAME = re.compile(r"[a-z][a-z0-9_]*")


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

#: Kinds that must name an item (every shop-defined kind names one too).
ITEM_KINDS: frozenset[EventKind] = frozenset(set(EventKind) - {EventKind.SEARCH})

#: Built-in kinds that are not something the shopper did with an item: the event-aware model's
#: input leaves them out (searches name no item, impressions are what the shop showed).
NOT_BEHAVIOUR: frozenset[EventKind] = frozenset({EventKind.SEARCH, EventKind.IMPRESSION})

_BUILTIN = {k.value: k for k in EventKind}
BUILTIN_KINDS_HELP = ", ".join(_BUILTIN)


def kind_name(value: str) -> str:
    """`value` as an event kind: the :class:`EventKind` member for a built-in kind, else the
    name itself (a shop-defined kind), after checking its spelling.

    Raises:
        ValueError: not lowercase letters, digits and underscores starting with a letter, or
            longer than 32 characters; the message lists the built-in kinds.
    """
    if value in _BUILTIN:
        return _BUILTIN[value]
    if not is_kind_name(value):
        raise ValueError(
            f"{value!r} is not an event kind; use a built-in kind ({BUILTIN_KINDS_HELP}) or a "
            "kind the shop declared (cartwise kinds add NAME): lowercase letters, digits and "
            f"'_', starting with a letter, at most {_KIND_MAX} characters"
        )
    return value


def is_kind_name(value: str) -> bool:
    """Whether `value` is spelt as a kind name may be (see :func:`kind_name`)."""
    return len(value) <= _KIND_MAX and _KIND_NAME.fullmatch(value) is not None


def is_builtin_kind(value: str) -> bool:
    """Whether `value` is one of :class:`EventKind`'s values."""
    return value in _BUILTIN


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
    kind: str = Field(
        description=f"a built-in kind ({BUILTIN_KINDS_HELP}) or one the shop declared",
        examples=["view", "purchase"],
    )
    value: float | None = Field(default=None, strict=True)
    query: str | None = None
    timestamp: datetime
    context: dict[str, Any] = Field(default_factory=dict)

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _as_utc(value)

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        return kind_name(value)

    @model_validator(mode="after")
    def _item_or_query(self) -> Event:
        if self.kind is not EventKind.SEARCH and not self.item_id:
            raise ValueError(f"a '{self.kind}' event needs an item_id")
        if self.kind is EventKind.SEARCH and not (self.query or "").strip():
            raise ValueError("a 'search' event needs the query text in 'query'")
        return self


class EventKindInfo(_Record):
    """An event kind the store accepts: built in, or declared by the shop.

    Attributes:
        name: the value written in files and over HTTP.
        positive: whether the kind expresses interest in the item (declared kinds: the shop
            says; such events feed the id-only models like views and purchases do).
        builtin: one of :class:`EventKind`.
        created_at: when the shop declared it (None for built-in kinds).
    """

    name: str = Field(min_length=1, max_length=_KIND_MAX)
    positive: bool = True
    builtin: bool = False
    created_at: datetime | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return str(kind_name(value))


def builtin_kinds() -> list[EventKindInfo]:
    """The built-in kinds, in :class:`EventKind` order, with their positivity."""
    return [
        EventKindInfo(name=k.value, positive=k in POSITIVE_KINDS, builtin=True) for k in EventKind
    ]
