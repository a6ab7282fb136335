"""A shopper's recent behaviour, read lean at request time.

Only the columns a request needs, as plain SQL (:mod:`cartwise.data.lean`), and no record
objects: these reads run on every recommendation request.

A history is a list of :data:`Touch` tuples ``(item_id, kind, epoch seconds)``, oldest first;
which kinds it holds is the caller's choice (the kinds its model reads). Shopper ids are the
shop's own (looked up as the store keeps them: :mod:`cartwise.data.privacy`).
"""

from __future__ import annotations

from collections.abc import Sequence

from cartwise.data import lean
from cartwise.data import tables as t
from cartwise.data.schema import POSITIVE_KINDS, EventKind
from cartwise.data.store import Store

#: (item_id, kind, epoch seconds or None when unknown, e.g. a session's events) of one event.
Touched = tuple[str, str, float | None]

#: The built-in kinds that express interest: the default history.
DEFAULT_KINDS: tuple[str, ...] = tuple(sorted(k.value for k in POSITIVE_KINDS))

_EVENTS = t.events.name
_PURCHASE = EventKind.PURCHASE.value
_BOUGHT_SQL = (
    f"SELECT DISTINCT item_id FROM {_EVENTS} "
    f"WHERE user_id = ? AND kind = '{_PURCHASE}' AND item_id IS NOT NULL"
)


def _recent_sql(n_kinds: int) -> str:
    return (
        f"SELECT item_id, kind, ts FROM {_EVENTS} WHERE user_id = ? AND kind IN "
        f"({lean.marks(n_kinds)}) AND item_id IS NOT NULL ORDER BY ts DESC, seq DESC LIMIT ?"
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
    with store.engine.connect() as conn:
        rows = lean.run(conn, _recent_sql(len(kinds)), [stored, *kinds, limit])
        bought = {str(r[0]) for r in lean.run(conn, _BOUGHT_SQL, [stored])} if purchases else set()
    return [(str(i), str(k), float(ts)) for i, k, ts in reversed(rows)], bought


def recent_items(
    store: Store, user_id: str, limit: int, *, kinds: Sequence[str] = DEFAULT_KINDS
) -> list[Touched]:
    """(item_id, kind, time) of the shopper's latest `limit` events of `kinds`, oldest first."""
    stored = store.privacy.stored(user_id)
    with store.engine.connect() as conn:
        rows = lean.run(conn, _recent_sql(len(kinds)), [stored, *kinds, limit])
    return [(str(i), str(k), float(ts)) for i, k, ts in reversed(rows)]


def purchased_items(store: Store, user_id: str) -> set[str]:
    """Ids of every item the shopper bought."""
    with store.engine.connect() as conn:
        return {str(r[0]) for r in lean.run(conn, _BOUGHT_SQL, [store.privacy.stored(user_id)])}
