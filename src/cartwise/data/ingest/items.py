"""Items and users from a file: convert each column, validate one pydantic record per row,
upsert them in one transaction (events, far more numerous, are converted column-wise in
:mod:`cartwise.data.ingest.events`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import pandas as pd
from pydantic import BaseModel, ValidationError
from sqlalchemy import Table as SqlTable
from sqlalchemy import select

from cartwise.data import tables as t
from cartwise.data.ingest.cells import (
    booleans,
    categories,
    currencies,
    epoch_seconds,
    floats,
    ids,
    json_objects,
    texts,
)
from cartwise.data.ingest.events import WRITE_CHUNK, EventOptions, progress_bar
from cartwise.data.ingest.readers import MappedTable
from cartwise.data.schema import Item, User
from cartwise.data.store import Store

#: Fields a file may provide per record type (names of :mod:`cartwise.data.schema`).
FIELDS: dict[str, tuple[str, ...]] = {
    "items": tuple(Item.model_fields),
    "users": tuple(User.model_fields),
    # the events table's columns, with the stored "ts" under its schema name "timestamp"
    "events": tuple("timestamp" if c == "ts" else c for c in t.EVENT_COLUMNS),
}

_CONVERTERS: dict[str, Callable[[pd.Series], Any]] = {
    "title": texts,
    "description": texts,
    "brand": texts,
    "currency": currencies,
    "category": categories,
    "price": floats,
    "available": booleans,
    "attributes": json_objects,
    "created_at": epoch_seconds,
}


@dataclass(frozen=True)
class RecordsWritten:
    """What an items or users import wrote: records new to the store, records updated, rows
    dropped as repeated ids, and users left out as deleted shoppers (only new events bring a
    deleted shopper back: :mod:`cartwise.data.deletion`)."""

    inserted: int
    duplicates: int
    dropped: int
    deleted: int = 0


def ingest_records(
    store: Store, source: MappedTable, kind: str, opts: EventOptions
) -> RecordsWritten:
    """Items or users: convert columns, validate each record with its pydantic model, upsert."""
    frame = source.table.frame
    keys = source.convert(frame, "id", ids)
    source.fail_where(keys.isna(), frame.index, "id", "empty id; every row needs one")
    keep = source.unique(keys, "id", opts.on_duplicate)
    frame, keys = frame[keep], keys[keep]
    values = _record_values(source, frame, kind)
    stored = _stored_created(store, kind, keys.tolist())
    model: type[Item] | type[User] = Item if kind == "items" else User
    records = _validate(source, model, frame.index, keys.tolist(), values, stored)
    name = source.table.path.name
    written = 0
    with store.batch() as batch, progress_bar(name, len(records), opts.progress) as bar:
        for start in range(0, len(records), WRITE_CHUNK):
            chunk = records[start : start + WRITE_CHUNK]
            if kind == "items":
                written += batch.upsert_items(cast(list[Item], chunk))
            else:
                written += batch.upsert_users(cast(list[User], chunk))
            bar.update(len(chunk))
    dropped = int((~keep).sum())
    deleted = len(records) - written
    return RecordsWritten(written - len(stored), len(stored), dropped, deleted)


def _record_values(source: MappedTable, frame: pd.DataFrame, kind: str) -> dict[str, list[Any]]:
    """Converted columns by field; None where the file gives no value (model default)."""
    values: dict[str, list[Any]] = {}
    for name, fn in _CONVERTERS.items():
        if name not in source.columns or name not in FIELDS[kind]:
            continue
        converted = source.convert(frame, name, fn)
        if name == "price":
            source.fail_where(
                converted < 0,
                frame.index,
                "price",
                "negative price; prices must be 0 or more. Fix the value, leave it empty if "
                "unknown, or drop the row",
            )
        if isinstance(converted, np.ndarray):
            converted = [None if np.isnan(v) else v for v in converted.tolist()]
        elif isinstance(converted, pd.Series):
            converted = converted.tolist()
        values[name] = converted
    return values


def _stored_created(store: Store, kind: str, keys: list[str]) -> dict[str, float]:
    """created_at of ids already in the store: kept when the file gives none, and counted
    (user ids looked up as the store keeps them)."""
    table: SqlTable = t.items if kind == "items" else t.users
    as_stored = keys if kind == "items" else cast(list[str], store.privacy.stored_many(keys))
    found: dict[str, float] = {}
    with store.engine.connect() as conn:
        for start in range(0, len(keys), 900):
            chunk = dict(
                zip(as_stored[start : start + 900], keys[start : start + 900], strict=True)
            )
            stmt = select(table.c.id, table.c.created_at).where(table.c.id.in_(list(chunk)))
            found.update((chunk[str(i)], float(c)) for i, c in conn.execute(stmt))
    return found


def _validate(
    source: MappedTable,
    model: type[Item] | type[User],
    index: pd.Index,
    keys: list[str],
    values: dict[str, list[Any]],
    stored: dict[str, float],
) -> list[BaseModel]:
    """One pydantic record per row; the first invalid one raises with its line and field."""
    now = datetime.now(UTC)
    records: list[BaseModel] = []
    for pos, (row, key) in enumerate(zip(index.tolist(), keys, strict=True)):
        data: dict[str, Any] = {"id": key}
        data.update((n, v[pos]) for n, v in values.items() if v[pos] is not None)
        created = data.pop("created_at", None)
        try:
            if created is None and key in stored:
                created = stored[key]
            data["created_at"] = now if created is None else datetime.fromtimestamp(created, UTC)
            records.append(model(**data))
        except (OverflowError, OSError, ValueError) as exc:
            name = "created_at"
            if isinstance(exc, ValidationError):
                error = exc.errors()[0]
                name = str(error["loc"][0]) if error["loc"] else "id"
            message = f"{exc.errors()[0]['msg'] if isinstance(exc, ValidationError) else exc}"
            raise source.error(f"{message}; fix the value", name=name, row=int(row)) from None
    return records
