"""A shopper's recent behaviour, read lean at request time.

Only the columns a request needs, with statements compiled once (SQLAlchemy caches them by
identity), and no record objects: these two reads run on every recommendation request.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select

from cartwise.data import tables as t
from cartwise.data.schema import POSITIVE_KINDS, EventKind
from cartwise.data.store import Store

_E = t.events.c

_RECENT = (
    select(_E.item_id, _E.kind)
    .where(
        _E.user_id == bindparam("user_id"),
        _E.kind.in_(sorted(k.value for k in POSITIVE_KINDS)),
        _E.item_id.is_not(None),
    )
    .order_by(_E.ts.desc(), _E.seq.desc())
    .limit(bindparam("limit"))
)

_PURCHASED = (
    select(_E.item_id)
    .distinct()
    .where(
        _E.user_id == bindparam("user_id"),
        _E.kind == EventKind.PURCHASE.value,
        _E.item_id.is_not(None),
    )
)


def shopper_events(
    store: Store, user_id: str, limit: int, *, purchases: bool = True
) -> tuple[list[tuple[str, str]], set[str]]:
    """:func:`recent_items` and (with `purchases`, else an empty set) :func:`purchased_items`
    on one pooled connection: what a recommendation request reads about the shopper."""
    with store.engine.connect() as conn:
        rows = conn.execute(_RECENT, {"user_id": user_id, "limit": limit}).all()
        bought = (
            {str(i) for i in conn.scalars(_PURCHASED, {"user_id": user_id})} if purchases else set()
        )
    return [(str(i), str(k)) for i, k in reversed(rows)], bought


def recent_items(store: Store, user_id: str, limit: int) -> list[tuple[str, str]]:
    """(item_id, kind) of the shopper's latest `limit` positive events, oldest first."""
    with store.engine.connect() as conn:
        rows = conn.execute(_RECENT, {"user_id": user_id, "limit": limit}).all()
    return [(str(i), str(k)) for i, k in reversed(rows)]


def purchased_items(store: Store, user_id: str) -> set[str]:
    """Ids of every item the shopper bought."""
    with store.engine.connect() as conn:
        return {str(i) for i in conn.scalars(_PURCHASED, {"user_id": user_id})}
