"""Writes that share one transaction: :class:`Batch` (from :meth:`Store.batch`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import Connection, insert, select

from cartwise.data import bulk
from cartwise.data import tables as t
from cartwise.data.deletion import fresh_rows, still_deleted
from cartwise.data.event_times import EventTimeWindow
from cartwise.data.privacy import Privacy
from cartwise.data.schema import (
    Event,
    EventKindInfo,
    Item,
    User,
    builtin_kinds,
    is_builtin_kind,
    is_kind_name,
)
from cartwise.data.times import from_epoch, now_epoch, to_epoch
from cartwise.errors import InputError

UnknownItemPolicy = Literal["reject", "placeholder"]


@dataclass(frozen=True)
class AppendResult:
    """What an event append did: rows written, rows skipped as already present, items created,
    and events left out as the history of a deleted shopper (dated at or before their deletion:
    :mod:`cartwise.data.deletion`)."""

    inserted: int
    duplicates: int
    placeholders: int = 0
    deleted_history: int = 0


def item_row(item: Item) -> dict[str, Any]:
    """An Item as a row of the items table."""
    row = item.model_dump(exclude={"created_at"})
    row["created_at"] = to_epoch(item.created_at)
    row["placeholder"] = False
    return row


def event_row(ev: Event) -> dict[str, Any]:
    """An Event as a row of the events table (keys: :data:`~cartwise.data.tables.EVENT_COLUMNS`)."""
    return {
        "event_id": ev.event_id,
        "user_id": ev.user_id,
        "session_id": ev.session_id,
        "item_id": ev.item_id,
        "kind": str(ev.kind),
        "value": ev.value,
        "query": ev.query,
        "ts": to_epoch(ev.timestamp),
        "context": ev.context or None,
    }


def _placeholder(item_id: str, now: float) -> dict[str, Any]:
    return {
        "id": item_id,
        "title": "",
        "description": "",
        "category": [],
        "brand": "",
        "price": None,
        "currency": "USD",
        "available": False,
        "attributes": {},
        "created_at": now,
        "placeholder": True,
    }


#: Text fields written per table; a NUL character in any is refused (PostgreSQL cannot store it).
_TEXT_FIELDS = {
    "items": ("id", "title", "description", "brand", "currency"),
    "users": ("id",),
    "events": ("event_id", "user_id", "session_id", "item_id", "kind", "query"),
}
_CURRENCY_MAX = 8


def check_texts(table: str, columns: Mapping[str, Sequence[Any]]) -> None:
    """Refuse what one backend would store and the other would not: NUL characters in text,
    currency codes longer than the column. One join per column finds whether any value has a
    NUL (~20 ms per million ids); only then is the first such row looked for.

    Raises:
        InputError: naming the record (1-based position), the field and the fix.
    """
    for name in _TEXT_FIELDS[table]:
        values = columns.get(name)
        if values and "\x00" in "".join(filter(None, values)):
            row = next(i for i, v in enumerate(values) if v is not None and "\x00" in v)
            raise InputError(
                f"{values[row]!r} contains a NUL character (\\x00); remove it",
                source=table,
                line=row + 1,
                field=name,
            )
    for row, code in enumerate(columns.get("currency", [])):
        if len(code) > _CURRENCY_MAX:
            raise InputError(
                f"{code!r} is not a currency code; write one such as EUR or USD",
                source=table,
                line=row + 1,
                field="currency",
            )


class Batch:
    """Writes that share one transaction (see :meth:`Store.batch`). Shopper ids are the shop's
    own; they are stored as `privacy` says (pseudonymised or as given)."""

    def __init__(self, conn: Connection, privacy: Privacy | None = None) -> None:
        self._conn = conn
        self._privacy = privacy or Privacy()

    @property
    def dialect(self) -> str:
        """The database kind: "sqlite" or "postgresql"."""
        return self._conn.dialect.name

    def upsert_items(self, items: Iterable[Item]) -> int:
        """Insert or replace items by id. Returns how many were written."""
        rows = [item_row(i) for i in items]
        check_texts("items", {f: [r[f] for r in rows] for f in _TEXT_FIELDS["items"]})
        return bulk.upsert(self._conn, t.items, rows)

    def upsert_users(self, users: Iterable[User]) -> int:
        """Insert or replace users by id. Returns how many were written: a deleted shopper is
        not re-created this way (only new events bring them back)."""
        given = list(users)
        check_texts("users", {"id": [u.id for u in given]})
        stored = [self._privacy.stored(u.id) for u in given]
        gone = still_deleted(self._conn, self._privacy, stored)
        rows = [
            {"id": s, "attributes": u.attributes, "created_at": to_epoch(u.created_at)}
            for s, u in zip(stored, given, strict=True)
            if s not in gone
        ]
        return bulk.upsert(self._conn, t.users, rows)

    def existing_item_ids(self, ids: Iterable[str]) -> set[str]:
        """The subset of `ids` that are items in the store."""
        wanted = list(set(ids))
        if self.dialect == "postgresql":  # one query, the ids as one array parameter
            found_rows = self._conn.exec_driver_sql(
                f"SELECT id FROM {t.items.name} WHERE id = ANY(%s)", (wanted,)
            )
            return {row[0] for row in found_rows}
        found: set[str] = set()
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            found.update(self._conn.scalars(select(t.items.c.id).where(t.items.c.id.in_(chunk))))
        return found

    def append_events(
        self, events: Iterable[Event], *, unknown_items: UnknownItemPolicy = "reject"
    ) -> AppendResult:
        """Append events; an event whose `event_id` is already stored is skipped (idempotent).

        Raises:
            InputError: an event time outside :class:`EventTimeWindow` (row and field named).
        """
        rows = [event_row(e) for e in events]
        EventTimeWindow.from_settings().check([r["ts"] for r in rows])
        return self.append_event_rows(rows, unknown_items=unknown_items)

    def append_event_rows(
        self, rows: Sequence[dict[str, Any]], *, unknown_items: UnknownItemPolicy = "reject"
    ) -> AppendResult:
        """Fast path for validated rows (keys: :data:`cartwise.data.tables.EVENT_COLUMNS`,
        `ts` as epoch seconds). Users that do not exist yet are created."""
        columns = {c: [r[c] for r in rows] for c in t.EVENT_COLUMNS}
        return self.append_event_columns(columns, unknown_items=unknown_items)

    def append_event_columns(
        self,
        columns: Mapping[str, Sequence[Any]],
        *,
        unknown_items: UnknownItemPolicy = "reject",
    ) -> AppendResult:
        """:meth:`append_event_rows` for rows given column by column (one list per name of
        :data:`cartwise.data.tables.EVENT_COLUMNS`, all of one length): what file imports use,
        without a dict per row. On PostgreSQL, large appends go through COPY."""
        n = len(columns["event_id"])
        if n == 0:
            return AppendResult(0, 0)
        check_texts("events", columns)
        self._check_kinds(columns["kind"])
        placeholders = self._check_items(columns["item_id"], unknown_items)  # lines as given
        columns, forgotten = self._stored_users(columns)
        n -= forgotten
        if n == 0:
            return AppendResult(0, 0, placeholders, forgotten)
        now = now_epoch()
        if self.dialect == "postgresql" and n >= bulk.COPY_MIN_ROWS:
            inserted = bulk.copy_events(self._conn, columns, now)
        else:
            user_ids = sorted(set(columns["user_id"]))
            users = {"id": user_ids, "attributes": [{}] * len(user_ids)}
            bulk.insert_ignore(self._conn, t.users, {**users, "created_at": [now] * len(user_ids)})
            inserted = bulk.insert_ignore(
                self._conn, t.events, {c: columns[c] for c in t.EVENT_COLUMNS}
            )
        return AppendResult(inserted, n - inserted, placeholders, forgotten)

    def _stored_users(
        self, columns: Mapping[str, Sequence[Any]]
    ) -> tuple[Mapping[str, Sequence[Any]], int]:
        """`columns` with the user ids as stored, without the events of deleted shoppers dated
        at or before their deletion; and how many such events were left out."""
        users = self._privacy.stored_many(columns["user_id"])
        if self._privacy.pseudonymised:
            columns = {**columns, "user_id": users}
        keep = fresh_rows(self._conn, self._privacy, cast(list[str], users), columns["ts"])
        if keep is None:
            return columns, 0
        kept = {c: [v for v, k in zip(columns[c], keep, strict=True) if k] for c in columns}
        return kept, len(keep) - sum(keep)

    def event_kinds(self) -> list[EventKindInfo]:
        """Built-in kinds (in :class:`~cartwise.data.schema.EventKind` order), then the
        shop's declared kinds by name."""
        c = t.event_kinds.c
        declared = self._conn.execute(select(t.event_kinds).order_by(c.name)).all()
        return builtin_kinds() + [
            EventKindInfo(
                name=r.name, positive=bool(r.positive), created_at=from_epoch(r.created_at)
            )
            for r in declared
        ]

    def declare_kind(self, name: str, *, positive: bool = True) -> EventKindInfo:
        """Accept events of kind `name` from now on (declaring it again updates `positive`).

        Raises:
            InputError: `name` is a built-in kind or not a valid kind name.
        """
        name = name.strip()
        if not is_kind_name(name):
            raise InputError(
                f"{name!r} cannot be a kind name; use lowercase letters, digits and '_', "
                "starting with a letter, at most 32 characters (e.g. favourite)",
                source="kinds",
                field="name",
            )
        if is_builtin_kind(name):
            raise InputError(
                f"'{name}' is a built-in kind and needs no declaration; pick another name",
                source="kinds",
                field="name",
            )
        c = t.event_kinds.c
        found = self._conn.execute(select(t.event_kinds).where(c.name == name)).first()
        if found is None:
            now = now_epoch()
            row = {"name": name, "positive": positive, "created_at": now}
            self._conn.execute(insert(t.event_kinds), [row])
            return EventKindInfo(name=name, positive=positive, created_at=from_epoch(now))
        if bool(found.positive) != positive:
            stmt = t.event_kinds.update().where(c.name == name).values(positive=positive)
            self._conn.execute(stmt)
        return EventKindInfo(name=name, positive=positive, created_at=from_epoch(found.created_at))

    def _check_kinds(self, kinds: Sequence[str]) -> None:
        used = set(kinds)
        known = {k.name for k in self.event_kinds()}
        if used <= known:
            return
        index = next(i for i, kind in enumerate(kinds) if kind not in known)
        raise InputError(
            f"unknown event kind {kinds[index]!r}; declare it first (cartwise kinds add "
            f"NAME, Store.declare_kind in Python) or use one of: {', '.join(sorted(known))}",
            source="events",
            line=index + 1,
            field="kind",
        )

    def _check_items(self, item_ids: Sequence[str | None], policy: UnknownItemPolicy) -> int:
        named = set(item_ids)
        named.discard(None)  # set arithmetic at C speed: this runs over every imported event
        known = cast(set[str], named)
        missing = known - self.existing_item_ids(known)
        if not missing:
            return 0
        if policy == "reject":
            index = next(i for i, item in enumerate(item_ids) if item in missing)
            raise InputError(
                f"unknown item '{item_ids[index]}' ({len(missing)} unknown items in all); "
                "import the items first, or allow placeholders (--unknown-items placeholder)",
                source="events",
                line=index + 1,
                field="item_id",
            )
        now = now_epoch()
        rows = [_placeholder(i, now) for i in sorted(missing)]
        columns = {name: [r[name] for r in rows] for name in rows[0]}
        bulk.insert_ignore(self._conn, t.items, columns)
        return len(missing)
