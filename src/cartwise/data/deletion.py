"""Deleting a shopper: every row about them, a receipt, and no quiet return of their id.

:func:`forget` removes the shopper from every table with a ``user_id`` column and from
``users``, and writes a :class:`DeletionReceipt` (keyed hash of the stored id, rows removed per
table, time; no id, no personal data) in the same transaction: both happen, or neither.

A deleted id stays recognisable through its receipt hash, which is what keeps later requests
from re-creating the shopper (the rules, one place each):

- events dated at or before the deletion are history the shopper asked to forget: appends and
  imports leave them out (:func:`fresh_rows`); an event dated after it is a new shopper's first,
  and creates the user row again;
- answers for a deleted id (cold start: they have no events) are logged without the id
  (:func:`drop_deleted_ids`), as for an anonymous visitor;
- ``PUT /users`` (a users import) does not bring back a deleted id (:func:`still_deleted`);
  once new events have brought it back, it is an ordinary shopper again.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select

from cartwise.data import tables as t
from cartwise.data.privacy import Privacy
from cartwise.data.times import from_epoch
from cartwise.errors import NotFoundError

_log = logging.getLogger(__name__)

_R = t.deletion_receipts.c
_CHUNK = 900  # ids per IN (...): SQLite's bound-parameter limit leaves room


@dataclass(frozen=True)
class DeletionReceipt:
    """The record a deletion leaves: no id, no personal data.

    Attributes:
        receipt_id: the receipt's own id.
        id_hash: HMAC-SHA256 of the shopper's stored id under the receipt key.
        key_id: fingerprint of that key.
        deleted_at: when (UTC).
        removed: rows removed per table.
    """

    receipt_id: str
    id_hash: str
    key_id: str
    deleted_at: datetime
    removed: dict[str, int]

    @property
    def events(self) -> int:
        """Events removed: what models trained before the deletion learnt from."""
        return self.removed.get("events", 0)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (time in ISO 8601)."""
        return {
            "receipt_id": self.receipt_id,
            "id_hash": self.id_hash,
            "key_id": self.key_id,
            "deleted_at": self.deleted_at.isoformat(),
            "removed": dict(self.removed),
        }


def _receipt(row: Any) -> DeletionReceipt:
    m = row._mapping
    return DeletionReceipt(
        m["receipt_id"], m["id_hash"], m["key_id"], from_epoch(m["deleted_at"]), m["removed"]
    )


def forget(engine: Engine, privacy: Privacy, user_id: str) -> DeletionReceipt:
    """Delete the shopper `user_id` (the shop's id) from every table; keep a receipt.

    Raises:
        NotFoundError: nothing is stored about the shopper (earlier receipts are named).
    """
    stored = privacy.stored(user_id)
    with engine.begin() as conn:  # the store's own receipt key, committed on its own
        found = privacy.receipt_key(conn, create=True)
    assert found is not None
    key, key_id = found
    with engine.begin() as conn:
        removed: dict[str, int] = {}
        for table in t.metadata.sorted_tables:
            col = table.c.get("user_id")
            if col is not None:
                removed[table.name] = conn.execute(delete(table).where(col == stored)).rowcount
        removed["users"] = conn.execute(delete(t.users).where(t.users.c.id == stored)).rowcount
        if not any(removed.values()):
            raise NotFoundError(_not_found(conn, privacy, user_id, stored))
        receipt = DeletionReceipt(
            uuid.uuid4().hex,
            privacy.receipt_hashes(conn, [stored])[stored],
            key_id,
            from_epoch(time.time()),
            removed,
        )
        row = receipt.as_dict() | {"deleted_at": receipt.deleted_at.timestamp()}
        conn.execute(insert(t.deletion_receipts), [row])
    _log.info("deleted a shopper (receipt %s): %s", receipt.receipt_id, removed)
    return receipt


def _not_found(conn: Connection, privacy: Privacy, user_id: str, stored: str) -> str:
    message = f"user '{user_id}' is not in the store; nothing was deleted"
    earlier = _find(conn, privacy, stored, limit=1)
    if earlier:
        r = earlier[0]
        message += f" (already deleted at {r.deleted_at.isoformat()}, receipt {r.receipt_id})"
    return message


def _find(conn: Connection, privacy: Privacy, stored: str, limit: int) -> list[DeletionReceipt]:
    hashes = privacy.receipt_hashes(conn, [stored])
    if not hashes:
        return []
    stmt = (
        select(t.deletion_receipts)
        .where(_R.id_hash == hashes[stored])
        .order_by(_R.deleted_at.desc())
        .limit(limit)
    )
    return [_receipt(r) for r in conn.execute(stmt)]


def receipts(
    engine: Engine, privacy: Privacy, *, user_id: str | None = None, limit: int = 100
) -> list[DeletionReceipt]:
    """Deletion receipts, newest first; with `user_id` (the shop's id), only that shopper's."""
    with engine.connect() as conn:
        if user_id is not None:
            return _find(conn, privacy, privacy.stored(user_id), limit)
        stmt = select(t.deletion_receipts).order_by(_R.deleted_at.desc()).limit(limit)
        return [_receipt(r) for r in conn.execute(stmt)]


def deleted_times(
    conn: Connection, privacy: Privacy, stored_ids: Iterable[str]
) -> dict[str, float]:
    """Stored id → epoch time of its latest deletion, for the ids that were deleted."""
    if conn.execute(select(_R.receipt_id).limit(1)).first() is None:
        return {}  # no deletion yet: nothing to hash
    hashes = privacy.receipt_hashes(conn, sorted(set(stored_ids)))
    by_hash = {h: u for u, h in hashes.items()}
    wanted = list(by_hash)
    found: dict[str, float] = {}
    for start in range(0, len(wanted), _CHUNK):
        stmt = (
            select(_R.id_hash, func.max(_R.deleted_at))
            .where(_R.id_hash.in_(wanted[start : start + _CHUNK]))
            .group_by(_R.id_hash)
        )
        found.update((by_hash[h], float(at)) for h, at in conn.execute(stmt))
    return found


def still_deleted(conn: Connection, privacy: Privacy, stored_ids: Iterable[str]) -> set[str]:
    """The ids that were deleted and have not come back (no user row since)."""
    gone = list(deleted_times(conn, privacy, stored_ids))
    back: set[str] = set()
    for start in range(0, len(gone), _CHUNK):
        chunk = gone[start : start + _CHUNK]
        back.update(conn.scalars(select(t.users.c.id).where(t.users.c.id.in_(chunk))))
    return set(gone) - back


def fresh_rows(
    conn: Connection, privacy: Privacy, user_ids: Sequence[str], stamps: Sequence[float]
) -> list[bool] | None:
    """Which events to keep: False for a deleted shopper's event dated at or before their
    deletion. None when every event is kept (the common case: one query, no hashing)."""
    gone = deleted_times(conn, privacy, user_ids)
    if not gone:
        return None
    keep = [gone.get(u, -math.inf) < ts for u, ts in zip(user_ids, stamps, strict=True)]
    return None if all(keep) else keep


def drop_deleted_ids(conn: Connection, privacy: Privacy, rows: Sequence[dict[str, Any]]) -> int:
    """Blank the ``user_id`` of served rows whose shopper was deleted and has not come back;
    returns how many were blanked."""
    gone = still_deleted(conn, privacy, [r["user_id"] for r in rows if r["user_id"] is not None])
    blanked = 0
    for row in rows:
        if row["user_id"] in gone:
            row["user_id"] = None
            blanked += 1
    return blanked
