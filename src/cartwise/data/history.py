"""A shopper's recent behaviour, read lean at request time.

Only the columns a request needs, with statements compiled once (SQLAlchemy caches them by
identity), and no record objects: these reads run on every recommendation request.

A history is a list of :data:`Touch` tuples ``(item_id, kind, epoch seconds)``, oldest first;
which kinds it holds is the caller's choice (the kinds its model reads). Shopper ids are the
shop's own (looked up as the store keeps them: :mod:`cartwise.data.privacy`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, select

from cartwise.data import tables as t
from cartwise.data.schema import POSITIVE_KINDS, EventKind
from cartwise.data.store import Store

#: (item_id, kind, epoch seconds or None when unknown, e.g. a session's events) of one event.
Touched = tuple[str, str, float | None]

#: The built-in kinds that express interest: the default history.
DEFAULT_KINDS: tuple[str, ...] = tuple(sorted(k.value for k in POSITIVE_KINDS))

_E = t.events.c

_RECENT = (
    select(_E.item_id, _E.kind, _E.ts)
    .where(
        _E.user_id == bindparam("user_id"),
        _E.kind.in_(bindparam("kinds", expanding=True)),
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
    store: Store,
    user_id: str,
    limit: int,
    *,
    kinds: Sequence[str] = DEFAULT_KINDS,
    purchases: bool = True,
) -> tuple[list[Touched], set[str]]:
    """:func:`recent_items` and (with `purchases`, else an empty set) the ids of every item the
    shopper bought, on one pooled connection: what a recommendation request reads."""
    stored = store.privacy.stored(user_id)
    params = {"user_id": stored, "limit": limit, "kinds": list(kinds)}
    with store.engine.connect() as conn:
        rows = conn.execute(_RECENT, params).all()
        bought = (
            {str(i) for i in conn.scalars(_PURCHASED, {"user_id": stored})} if purchases else set()
        )
    return [(str(i), str(k), float(ts)) for i, k, ts in reversed(rows)], bought


def recent_items(
    store: Store, user_id: str, limit: int, *, kinds: Sequence[str] = DEFAULT_KINDS
) -> list[Touched]:
    """(item_id, kind, time) of the shopper's latest `limit` events of `kinds`, oldest first."""
    params = {"user_id": store.privacy.stored(user_id), "limit": limit, "kinds": list(kinds)}
    with store.engine.connect() as conn:
        rows = conn.execute(_RECENT, params).all()
    return [(str(i), str(k), float(ts)) for i, k, ts in reversed(rows)]


def purchased_items(store: Store, user_id: str) -> set[str]:
    """Ids of every item the shopper bought."""
    with store.engine.connect() as conn:
        return {
            str(i) for i in conn.scalars(_PURCHASED, {"user_id": store.privacy.stored(user_id)})
        }
