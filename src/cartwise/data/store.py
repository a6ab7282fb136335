"""The Store: items, users and events in one SQL database behind one API.

SQLite (a file, WAL mode) by default; PostgreSQL (``postgresql+psycopg://…``, the ``pg`` extra)
for shared, multi-replica deployments; the same calls and results on both. Every write call is
one transaction: a failure leaves the store as it was. Several writes can share one transaction
through :meth:`Store.batch`. Opening a store creates or checks its schema version
(:mod:`cartwise.data.migrate`; ``cartwise db upgrade`` upgrades an older store).

Example:
    >>> store = Store.open("shop.db")
    >>> with store.batch() as batch:
    ...     batch.upsert_items(items)
    ...     batch.append_events(events)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from cartwise.data import migrate
from cartwise.data import tables as t
from cartwise.data.batch import AppendResult, Batch, UnknownItemPolicy
from cartwise.data.bulk import json_text
from cartwise.data.connect import make_engine, shown_url, store_url
from cartwise.data.deletion import DeletionReceipt, forget, receipts
from cartwise.data.privacy import Privacy, check_mode
from cartwise.data.schema import Event, EventKindInfo, Item, User
from cartwise.data.times import from_epoch, to_epoch
from cartwise.errors import NotFoundError, StoreError

__all__ = ["AppendResult", "Batch", "Store", "UnknownItemPolicy", "from_epoch", "to_epoch"]

_log = logging.getLogger(__name__)


def _row_item(row: Any) -> Item:
    data = dict(row._mapping)
    data.pop("placeholder", None)
    data["created_at"] = from_epoch(data["created_at"])
    return Item(**data)


def _row_event(row: Any, user_id: str) -> Event:
    m = row._mapping
    return Event(
        event_id=m["event_id"],
        user_id=user_id,
        session_id=m["session_id"],
        item_id=m["item_id"],
        kind=m["kind"],
        value=m["value"],
        query=m["query"],
        timestamp=from_epoch(m["ts"]),
        context=m["context"] or {},
    )


def _codes(values: Sequence[str], seen: dict[str, int]) -> np.ndarray:
    """Codes (int32) of `values` in `seen` (value → code), new values added in order of
    first appearance."""
    local, uniques = pd.factorize(np.asarray(values, dtype=object), sort=False)
    lookup = np.fromiter(
        (seen.setdefault(u, len(seen)) for u in uniques), dtype=np.int32, count=len(uniques)
    )
    codes: np.ndarray = lookup[local]
    return codes


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    """The chunks end to end (an empty array of `dtype` without any)."""
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


class Store:
    """Items, users and events in a SQL database. Safe to share between threads.

    Args:
        url: a SQLite path or SQLAlchemy URL.
        echo: log every SQL statement.
        privacy: how shopper ids are kept (default: as the settings say,
            :meth:`Privacy.from_settings`). Every method takes the shop's own shopper ids;
            with pseudonymisation on, the store keeps and looks up their pseudonyms.
    """

    def __init__(
        self, url: str | Path, *, echo: bool = False, privacy: Privacy | None = None
    ) -> None:
        self.url = store_url(url)
        self.privacy = privacy or Privacy.from_settings()
        options: dict[str, Any] = {}
        if self.url.startswith("postgresql"):
            options["pool_pre_ping"] = True  # a replica survives a database restart
        self.engine: Engine = make_engine(self.url, echo=echo, **options)
        try:
            self.schema_version = migrate.prepare(self.engine)
            check_mode(self.engine, self.privacy, shown_url(self.url))
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise StoreError(
                f"cannot open store '{shown_url(self.url)}': {getattr(exc, 'orig', exc)}. "
                "Check that the path's folder exists and is writable, or that the database is up."
            ) from exc
        except BaseException:
            self.engine.dispose()
            raise

    @property
    def dialect(self) -> str:
        """The database kind: "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    @classmethod
    def open(cls, url: str | Path, *, privacy: Privacy | None = None) -> Store:
        """Open (creating if needed) the store at a path or SQLAlchemy URL."""
        if "://" not in str(url):
            Path(str(url)).expanduser().parent.mkdir(parents=True, exist_ok=True)
        return cls(url, privacy=privacy)

    def close(self) -> None:
        """Release connections."""
        self.engine.dispose()

    # -- writes -------------------------------------------------------------------------
    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """One transaction for several writes: all of them land, or none."""
        with self.engine.begin() as conn:
            yield Batch(conn, self.privacy)

    def upsert_items(self, items: Iterable[Item]) -> int:
        """Insert or replace items by id, in one transaction."""
        with self.batch() as b:
            return b.upsert_items(items)

    def upsert_users(self, users: Iterable[User]) -> int:
        """Insert or replace users by id, in one transaction."""
        with self.batch() as b:
            return b.upsert_users(users)

    def append_events(
        self, events: Iterable[Event], *, unknown_items: UnknownItemPolicy = "reject"
    ) -> AppendResult:
        """Append events idempotently (by `event_id`), in one transaction."""
        with self.batch() as b:
            return b.append_events(events, unknown_items=unknown_items)

    def declare_kind(self, name: str, *, positive: bool = True) -> EventKindInfo:
        """Declare a shop-defined event kind (see :meth:`Batch.declare_kind`)."""
        with self.batch() as b:
            found = b.declare_kind(name, positive=positive)
        _log.info("event kind %s declared (positive=%s)", found.name, found.positive)
        return found

    def event_kinds(self) -> list[EventKindInfo]:
        """Every kind the store accepts: built in first, then the declared ones by name."""
        with self.batch() as b:
            return b.event_kinds()

    def positive_kinds(self) -> list[str]:
        """Names of the kinds that express interest (built-in and declared)."""
        return [k.name for k in self.event_kinds() if k.positive]

    def delete_user(self, user_id: str) -> dict[str, int]:
        """:meth:`forget_user`, returning the number of rows removed per table."""
        return self.forget_user(user_id).removed

    def forget_user(self, user_id: str) -> DeletionReceipt:
        """Remove a shopper from every table and keep a receipt, in one transaction
        (:func:`cartwise.data.deletion.forget`: what later requests for the id may do).

        Raises:
            NotFoundError: nothing is stored about the shopper.
        """
        return forget(self.engine, self.privacy, user_id)

    def deletion_receipts(
        self, *, user_id: str | None = None, limit: int = 100
    ) -> list[DeletionReceipt]:
        """Deletion receipts, newest first; with `user_id`, only that shopper's."""
        return receipts(self.engine, self.privacy, user_id=user_id, limit=limit)

    def delete_item(self, item_id: str) -> None:
        """Remove an item from the catalog (its events stay as history)."""
        with self.engine.begin() as conn:
            if not conn.execute(delete(t.items).where(t.items.c.id == item_id)).rowcount:
                raise NotFoundError(f"item '{item_id}' is not in the catalog")

    # -- reads --------------------------------------------------------------------------
    def get_item(self, item_id: str) -> Item:
        """The item with this id; NotFoundError if absent."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.items).where(t.items.c.id == item_id)).first()
        if row is None:
            raise NotFoundError(f"item '{item_id}' is not in the catalog")
        return _row_item(row)

    def get_user(self, user_id: str) -> User:
        """The user with this id; NotFoundError if absent."""
        stored = self.privacy.stored(user_id)
        with self.engine.connect() as conn:
            row = conn.execute(select(t.users).where(t.users.c.id == stored)).first()
        if row is None:
            raise NotFoundError(f"user '{user_id}' is not in the store")
        m = row._mapping
        return User(id=user_id, attributes=m["attributes"], created_at=from_epoch(m["created_at"]))

    def users(self, *, limit: int = 50, offset: int = 0) -> tuple[list[User], int]:
        """A page of shoppers ordered by id, and how many there are in all (their stored ids:
        pseudonyms when ids are pseudonymised)."""
        u = t.users.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.users).order_by(u.id).limit(limit).offset(offset)).all()
            total = int(conn.scalar(select(func.count()).select_from(t.users)) or 0)
        users = [
            User(id=r.id, attributes=r.attributes, created_at=from_epoch(r.created_at))
            for r in rows
        ]
        return users, total

    def items(
        self,
        *,
        category: str | None = None,
        available: bool | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Item]:
        """Catalog query, ordered by id. `category` matches any level of the category path."""
        stmt = select(t.items).order_by(t.items.c.id).offset(offset)
        if available is not None:
            stmt = stmt.where(t.items.c.available == available)
        if limit is not None and category is None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            found = [_row_item(r) for r in conn.execute(stmt)]
        if category is not None:
            found = [i for i in found if category in i.category]
            found = found[:limit] if limit is not None else found
        return found

    def user_events(
        self,
        user_id: str,
        *,
        since: datetime | None = None,
        kinds: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """A shopper's events in chronological order (ties in insertion order), with the
        shop's id `user_id` in them.

        With `limit`, the most recent `limit` events, still oldest first.
        """
        c = t.events.c
        stmt = select(t.events).where(c.user_id == self.privacy.stored(user_id))
        if since is not None:
            stmt = stmt.where(c.ts >= to_epoch(since))
        if kinds is not None:
            stmt = stmt.where(c.kind.in_([str(k) for k in kinds]))
        if limit is not None:
            stmt = stmt.order_by(c.ts.desc(), c.seq.desc()).limit(limit)
        else:
            stmt = stmt.order_by(c.ts, c.seq)
        with self.engine.connect() as conn:
            found = [_row_event(r, user_id) for r in conn.execute(stmt)]
        return found[::-1] if limit is not None else found

    def events_frame(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """All events (optionally in [since, until)) as a DataFrame in chronological order.

        Columns: seq, event_id, user_id, session_id, item_id, kind, value, query, ts (epoch s).
        """
        c = t.events.c
        cols = [
            c.seq,
            c.event_id,
            c.user_id,
            c.session_id,
            c.item_id,
            c.kind,
            c.value,
            c.query,
            c.ts,
        ]
        stmt = select(*cols).order_by(c.ts, c.seq)
        if since is not None:
            stmt = stmt.where(c.ts >= to_epoch(since))
        if until is not None:
            stmt = stmt.where(c.ts < to_epoch(until))
        if kinds is not None:
            stmt = stmt.where(c.kind.in_([str(k) for k in kinds]))
        with self.engine.connect() as conn:
            return pd.DataFrame(conn.execute(stmt).all(), columns=[x.name for x in cols])

    def training_frame(
        self, *, kinds: Iterable[str] | None = None, chunk_rows: int = 200_000
    ) -> pd.DataFrame:
        """The events training reads, compactly: columns ``user_id``, ``item_id``, ``kind``
        (pandas categoricals, categories in order of first appearance) and ``ts`` (float64
        epoch s), in chronological order (ties in insertion order), events without an item
        left out; optionally only the given `kinds`.

        The same events and order as :meth:`events_frame` (less its other columns), read
        `chunk_rows` rows at a time: 10 million events take ~0.2 GB here instead of the
        several GB of full rows.
        """
        c = t.events.c
        stmt = select(c.user_id, c.item_id, c.kind, c.ts).where(c.item_id.is_not(None))
        if kinds is not None:
            stmt = stmt.where(c.kind.in_([str(k) for k in kinds]))
        stmt = stmt.order_by(c.ts, c.seq)
        names = ("user_id", "item_id", "kind")
        seen: dict[str, dict[str, int]] = {n: {} for n in names}
        parts: dict[str, list[np.ndarray]] = {n: [] for n in (*names, "ts")}
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=chunk_rows).execute(stmt)
            for rows in result.partitions():
                columns = list(zip(*rows, strict=True))
                for name, values in zip(names, columns, strict=False):
                    parts[name].append(_codes(values, seen[name]))
                parts["ts"].append(np.asarray(columns[3], dtype=np.float64))
        frame = {
            n: pd.Categorical.from_codes(
                _joined(parts[n], np.int32),
                categories=pd.Index(list(seen[n]), dtype=object),
            )
            for n in names
        }
        return pd.DataFrame({**frame, "ts": _joined(parts["ts"], np.float64)})

    def items_frame(self) -> pd.DataFrame:
        """The catalog as a DataFrame ordered by id (category as a list, created_at epoch s)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.items).order_by(t.items.c.id)).all()
        return pd.DataFrame(rows, columns=[c.name for c in t.items.columns])

    def users_frame(self) -> pd.DataFrame:
        """All users as a DataFrame ordered by id."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.users).order_by(t.users.c.id)).all()
        return pd.DataFrame(rows, columns=[c.name for c in t.users.columns])

    def counts(self) -> dict[str, int]:
        """Row counts: items, users, events."""
        with self.engine.connect() as conn:
            return {
                name: int(conn.scalar(select(func.count()).select_from(table)) or 0)
                for name, table in (("items", t.items), ("users", t.users), ("events", t.events))
            }

    def reachable(self) -> bool:
        """Whether the database answers a trivial query now (readiness probes)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            _log.warning("store %s does not answer", self.url, exc_info=True)
            return False
        return True

    def event_mark(self) -> int:
        """The sequence number of the latest stored event (0 when there is none): a snapshot
        read after this call holds at least the events up to it (:meth:`events_after`)."""
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.max(t.events.c.seq))) or 0)

    def events_after(self, mark: int) -> int:
        """How many events were stored after the one numbered `mark` (arrival order, whatever
        their timestamps: a back-filled import counts too)."""
        c = t.events.c
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).where(c.seq > mark)) or 0)

    def size_bytes(self) -> int:
        """Space the store's tables take, indexes included (SQLite: the database's pages,
        those still in the write-ahead log included)."""
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                pages = conn.exec_driver_sql("PRAGMA page_count").scalar() or 0
                size = conn.exec_driver_sql("PRAGMA page_size").scalar() or 0
                return int(pages) * int(size)
            size_of = text("SELECT pg_total_relation_size(CAST(:name AS regclass))")
            found = [conn.scalar(size_of, {"name": tab.name}) for tab in t.metadata.sorted_tables]
            return sum(int(n or 0) for n in found)

    def stats(self) -> dict[str, Any]:
        """Counts, event kinds and time range, for `cartwise stats` and the dashboard."""
        out: dict[str, Any] = dict(self.counts())
        c = t.events.c
        with self.engine.connect() as conn:
            kinds = conn.execute(select(c.kind, func.count()).group_by(c.kind)).all()
            first, last = conn.execute(select(func.min(c.ts), func.max(c.ts))).one()
        out["events_by_kind"] = {k: int(n) for k, n in sorted(kinds)}
        out["first_event"] = from_epoch(first).isoformat() if first is not None else None
        out["last_event"] = from_epoch(last).isoformat() if last is not None else None
        return out

    def export(self, folder: str | Path) -> dict[str, Path]:
        """Write items, users and events as Parquet files into `folder`."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        frames = {
            "items": self.items_frame(),
            "users": self.users_frame(),
            "events": self.events_frame(),
        }
        paths: dict[str, Path] = {}
        for name, frame in frames.items():
            for col in ("category", "attributes"):
                if col in frame:
                    frame[col] = frame[col].map(json_text)
            path = out / f"{name}.parquet"
            tmp = path.with_suffix(".parquet.tmp")
            frame.to_parquet(tmp, index=False)
            tmp.replace(path)
            paths[name] = path
        return paths
