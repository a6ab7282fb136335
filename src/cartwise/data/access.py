"""Access requests: everything the store holds about one shopper, as JSON-ready data.

The export reads the ``users`` row and every table with a ``user_id`` column (events, served
answers, feedback, and whatever such table is added later, experiment assignments included),
so it lists exactly what :func:`cartwise.data.deletion.forget` would delete. Times are ISO 8601
in UTC; ids are as stored (pseudonyms when ids are pseudonymised, named in ``stored_id``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, select

from cartwise.data import tables as t
from cartwise.data.store import Store
from cartwise.data.times import from_epoch
from cartwise.errors import NotFoundError

_TIMES = ("ts", "created_at")


def _plain(table: Table, row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    for name in _TIMES:
        if name in out and out[name] is not None and name in table.c:
            out[name] = from_epoch(out[name]).isoformat()
    return out


def _rows(conn: Connection, table: Table, stored: str) -> list[dict[str, Any]]:
    key = table.c.id if table is t.users else table.c.user_id
    order = [table.c[name] for name in ("ts", "seq") if name in table.c]
    found = conn.execute(select(table).where(key == stored).order_by(*order)).all()
    return [_plain(table, r) for r in found]


def export_user(store: Store, user_id: str) -> dict[str, Any]:
    """What the store holds about the shopper `user_id` (the shop's id).

    Returns:
        ``user_id`` (as asked), ``stored_id`` (as kept), ``pseudonymised``, ``exported_at``,
        ``tables`` (table name → rows, all columns) and ``deletions`` (receipts of earlier
        deletions of this id).

    Raises:
        NotFoundError: nothing is stored about the shopper (an earlier deletion is named).
    """
    stored = store.privacy.stored(user_id)
    tables: dict[str, list[dict[str, Any]]] = {}
    with store.engine.connect() as conn:
        tables["users"] = _rows(conn, t.users, stored)
        for table in t.metadata.sorted_tables:
            if "user_id" in table.c:
                tables[table.name] = _rows(conn, table, stored)
    deletions = store.deletion_receipts(user_id=user_id)
    if not any(tables.values()):
        message = f"user '{user_id}' is not in the store; nothing is stored about them"
        if deletions:
            last = deletions[0]
            message += f" (deleted at {last.deleted_at.isoformat()}, receipt {last.receipt_id})"
        raise NotFoundError(message)
    return {
        "user_id": user_id,
        "stored_id": stored,
        "pseudonymised": store.privacy.pseudonymised,
        "exported_at": datetime.now(UTC).isoformat(),
        "tables": tables,
        "deletions": [r.as_dict() for r in deletions],
    }
