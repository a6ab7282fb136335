"""The events half of file import: check and convert every row, then append in one transaction.

Rows are handled a column at a time (pandas/numpy), never through a per-row pydantic model, and
written through :meth:`Batch.append_event_columns` in chunks (COPY on PostgreSQL). Used by
:func:`cartwise.data.ingest.ingest_file`; the policies are documented there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from cartwise.data import tables as t
from cartwise.data.event_times import EventTimeWindow
from cartwise.data.ingest.cells import (
    TIME_FORMATS_HELP,
    as_text,
    epoch_seconds,
    floats,
    ids,
    json_objects,
    texts,
)
from cartwise.data.ingest.readers import MappedTable
from cartwise.data.privacy import Privacy
from cartwise.data.schema import EventKind
from cartwise.data.store import Batch, Store

#: Rows per `append_event_columns` call: the progress bar's step (all in one transaction).
WRITE_CHUNK = 200_000

KINDS_HELP = ", ".join(k.value for k in EventKind)


@dataclass(frozen=True)
class EventOptions:
    """How to treat unknown items, repeated ids, missing kinds, negative values, missing users,
    and which file kind values stand for which Cartwise kinds (`kind_map`, lowercase keys)."""

    unknown_items: Literal["reject", "placeholder"] = "reject"
    on_duplicate: Literal["error", "first", "last"] = "error"
    default_kind: str | None = None
    negative_value: Literal["return", "skip", "error"] = "error"
    missing_user: Literal["error", "skip"] = "error"
    progress: bool = False
    kind_map: Mapping[str, str] = field(default_factory=dict)


def map_kinds(text: pd.Series, kind_map: Mapping[str, str]) -> pd.Series:
    """File kind values (lowercase text, NA when missing) → Cartwise kinds via `kind_map`;
    values the map does not name stay as they are."""
    if not kind_map:
        return text
    mapped = text.map(dict(kind_map))
    return mapped.where(mapped.notna(), text)


def unknown_kind_message(value: object, known: Sequence[str]) -> str:
    """The error for a kind value that is neither a known kind nor mapped to one."""
    return (
        f"unknown event kind {value!r}; map the file's value to a Cartwise kind (--kind-map "
        f"{value}=KIND, kind_map={{{str(value)!r}: KIND}} in Python) or declare it as the "
        f"shop's own kind (cartwise kinds add {value}); kinds: {', '.join(known)}"
    )


@dataclass
class EventsWritten:
    """Outcome of :func:`ingest_events`."""

    inserted: int = 0
    duplicates: int = 0
    placeholders: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass
class _Rows:
    """Rows still in play and the fields decided so far, aligned by position."""

    frame: pd.DataFrame
    users: pd.Series
    kinds: np.ndarray
    values: np.ndarray

    def keep(self, mask: np.ndarray) -> _Rows:
        return _Rows(self.frame[mask], self.users[mask], self.kinds[mask], self.values[mask])


def progress_bar(name: str, total: int, show: bool) -> tqdm[Any]:
    """The write progress bar (disabled unless `show`)."""
    return tqdm(total=total, desc=f"writing {name}", unit=" rows", disable=not show, leave=False)


def ingest_events(store: Store, source: MappedTable, opts: EventOptions) -> EventsWritten:
    """Validate all event rows of `source`, then append them in one transaction.

    Raises:
        IngestError: the first invalid row; nothing was written.
    """
    out = EventsWritten()
    frame = source.table.frame
    users = source.convert(frame, "user_id", ids)
    missing = users.isna().to_numpy()
    if opts.missing_user == "error":
        source.fail_where(
            missing,
            frame.index,
            "user_id",
            "empty user id; every event needs the shopper's id. Fill it in, or skip such rows: "
            "pass --missing-user skip (missing_user='skip' in Python)",
        )
    elif missing.any():
        out.skipped["missing user_id"] = int(missing.sum())
        frame, users = frame[~missing], users[~missing]
    kinds, values = _kinds_and_values(source, frame, opts, [k.name for k in store.event_kinds()])
    rows = _negatives(source, _Rows(frame, users, kinds, values), opts, out.skipped)
    data, items, dropped = _event_data(source, rows, opts, store.privacy)
    if dropped:
        out.skipped["duplicate event_id"] = dropped
    _write(store, source, data, items, opts, out)
    return out


def _kinds_and_values(
    source: MappedTable, frame: pd.DataFrame, opts: EventOptions, known: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    if "kind" in source.columns:
        text = map_kinds(as_text(frame[source.columns["kind"]]).str.lower(), opts.kind_map)
        if opts.default_kind is not None:
            text = text.fillna(opts.default_kind)
        source.fail_where(
            text.isna(),
            frame.index,
            "kind",
            f"empty event kind; write one of: {', '.join(known)}, or set a default kind for "
            "such rows: pass e.g. --kind purchase (default_kind='purchase' in Python)",
        )
        bad = np.flatnonzero(~text.isin(known).to_numpy())
        if len(bad):
            shown = frame[source.columns["kind"]].iloc[bad[0]]
            message = unknown_kind_message(shown, known)
            raise source.error(message, name="kind", row=int(frame.index[bad[0]]))
        kinds = text.to_numpy(dtype=object)
    else:
        kinds = np.full(len(frame), opts.default_kind, dtype=object)
    if "value" in source.columns:
        values = source.convert(frame, "value", floats)
    else:
        values = np.full(len(frame), np.nan)
    return kinds, values


def _negatives(
    source: MappedTable, rows: _Rows, opts: EventOptions, skipped: dict[str, int]
) -> _Rows:
    """Apply the negative-value policy to events other than ratings with value < 0."""
    negative = (rows.values < 0) & (rows.kinds != EventKind.RATING.value)
    if not negative.any():
        return rows
    if opts.negative_value == "skip":
        skipped["negative value"] = int(negative.sum())
        return rows.keep(~negative)
    if opts.negative_value == "return":
        kinds = np.where(negative, EventKind.RETURN.value, rows.kinds)
        return _Rows(rows.frame, rows.users, kinds, np.abs(rows.values))
    source.fail_where(
        negative,
        rows.frame.index,
        "value",
        "negative value (a cancellation or return?); import such rows as returns "
        "(--negative-value return, negative_value='return' in Python), skip them "
        "(--negative-value skip, negative_value='skip' in Python) or fix the value",
    )
    return rows


def _optional(
    source: MappedTable, frame: pd.DataFrame, name: str, fn: Callable[[pd.Series], pd.Series]
) -> pd.Series:
    if name in source.columns:
        return source.convert(frame, name, fn)
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _event_data(
    source: MappedTable, rows: _Rows, opts: EventOptions, privacy: Privacy
) -> tuple[dict[str, list[Any]], pd.Series, int]:
    """Check and convert the other fields; returns the columns to write, item ids, rows dropped.

    Derived event ids hash the user ids as the store keeps them: with pseudonymisation on, an
    id derived from the shop's own id would let anyone holding the database test a guess."""
    frame, index = rows.frame, rows.frame.index
    items = _optional(source, frame, "item_id", ids)
    sessions = _optional(source, frame, "session_id", ids)
    queries = _optional(source, frame, "query", texts)
    contexts: list[dict[str, Any] | None] = [None] * len(frame)
    if "context" in source.columns:
        contexts = source.convert(frame, "context", json_objects)
    stamps = _timestamps(source, frame)
    _check_items_and_queries(source, rows, items, queries)
    keep = np.ones(len(frame), dtype=bool)
    if "event_id" in source.columns:
        event_ids = source.convert(frame, "event_id", ids)
        source.fail_where(
            event_ids.isna(),
            index,
            "event_id",
            "empty event id; fill it in, or drop the event_id column to let Cartwise derive "
            "ids from the rows",
        )
        keep = source.unique(event_ids, "event_id", opts.on_duplicate)
        id_list = event_ids.tolist()
    else:
        context_text = [None if c is None else json.dumps(c, sort_keys=True) for c in contexts]
        users = privacy.stored_many(rows.users.tolist())
        parts = [users, sessions, items, rows.kinds, queries, context_text]
        texts_ = [np.asarray(p, dtype=object) for p in parts]
        id_list = derived_event_ids(texts_, [rows.values], stamps)
    values = pd.Series(rows.values).astype(object).where(~np.isnan(rows.values), None)
    data = {
        "event_id": id_list,
        "user_id": rows.users.tolist(),
        "session_id": sessions.tolist(),
        "item_id": items.tolist(),
        "kind": rows.kinds.tolist(),
        "value": values.tolist(),
        "query": queries.tolist(),
        "ts": stamps.tolist(),
        "context": list(contexts),
    }
    if keep.all():
        return data, items, 0
    picked = {name: [v for v, k in zip(col, keep, strict=True) if k] for name, col in data.items()}
    return picked, items[keep], int((~keep).sum())


def _timestamps(source: MappedTable, frame: pd.DataFrame) -> np.ndarray:
    """Epoch seconds of every row; raises at the first empty one or one outside the window."""
    stamps = source.convert(frame, "timestamp", epoch_seconds)
    source.fail_where(
        np.isnan(stamps),
        frame.index,
        "timestamp",
        f"empty timestamp; every event needs its time ({TIME_FORMATS_HELP})",
    )
    window = EventTimeWindow.from_settings()
    earliest, latest = window.bounds()
    source.fail_where(stamps < earliest, frame.index, "timestamp", window.too_early_message())
    source.fail_where(stamps > latest, frame.index, "timestamp", window.too_late_message(latest))
    return stamps


def _check_items_and_queries(
    source: MappedTable, rows: _Rows, items: pd.Series, queries: pd.Series
) -> None:
    search = rows.kinds == EventKind.SEARCH.value
    if "item_id" not in source.columns and not search.all():
        kind = rows.kinds[np.flatnonzero(~search)[0]]
        raise source.error(
            f"the file has no item_id column, but '{kind}' events must name an item; add the "
            "column or map one (--map item_id=COLUMN, mapping={'item_id': COLUMN} in Python)",
            name="item_id",
            header=True,
        )
    source.fail_where(
        ~search & items.isna().to_numpy(),
        rows.frame.index,
        "item_id",
        "empty item id; every event except 'search' must name an item. Fill it in",
    )
    blank = queries.isna().to_numpy() | (queries.str.strip() == "").to_numpy(dtype=bool)
    source.fail_where(
        search & blank,
        rows.frame.index,
        "query",
        "a 'search' event needs the text the shopper typed; fill in query",
    )


_HASH_KEY = "cartwise:event:1"  # SipHash key: exactly 16 characters
_MIX = np.uint64(0x100000001B3)


def derived_event_ids(
    texts: Sequence[np.ndarray], numbers: Sequence[np.ndarray], stamps: np.ndarray
) -> list[str]:
    """Deterministic event ids for files without an event_id column.

    An id is the event's whole second (9 hex digits, so ids of a chronological file arrive in
    index order, which SQLite inserts faster) and a 64-bit SipHash (pandas' ``hash_array``) of
    all its values, plus ``-k`` for the k-th repeat of an identical row. The same file always
    gives the same ids, so importing it again adds nothing, while repeated rows stay separate
    events. Two different events collide only within the same second, with odds ~n²/2⁶⁵.

    Args:
        texts: object arrays of str or None (user, session, item, kind, query, context).
        numbers: float arrays (value).
        stamps: epoch seconds.
    """
    columns = [pa.array(t, type=pa.string(), from_pandas=True) for t in texts]
    joined = pc.binary_join_element_wise(
        *columns, "\x1f", null_handling="replace", null_replacement="\x00"
    )
    acc = pd.util.hash_array(
        joined.to_numpy(zero_copy_only=False), hash_key=_HASH_KEY, categorize=False
    )
    for part in [*numbers, stamps]:
        part = np.where(np.isnan(part), np.nan, part + 0.0)  # one bit pattern: 0.0/-0.0, NaN
        acc = (acc * _MIX) ^ pd.util.hash_array(part, hash_key=_HASH_KEY, categorize=False)
    seconds = np.floor(stamps).astype(np.int64)
    repeat = pd.DataFrame({"s": seconds, "h": acc}).groupby(["s", "h"], sort=False).cumcount()
    return [
        f"{s:09x}{h:016x}-{k}" if k else f"{s:09x}{h:016x}"
        for s, h, k in zip(seconds.tolist(), acc.tolist(), repeat.tolist(), strict=True)
    ]


def _write(
    store: Store,
    source: MappedTable,
    data: dict[str, list[Any]],
    items: pd.Series,
    opts: EventOptions,
    out: EventsWritten,
) -> None:
    """One transaction: check item ids against the store, then append chunk by chunk."""
    total = len(data["event_id"])
    with store.batch() as batch:
        if opts.unknown_items == "reject":
            _reject_unknown(batch, source, items)
        # the bar starts only once the checks pass: an error stays one line on the console
        with progress_bar(source.table.path.name, total, opts.progress) as bar:
            for start in range(0, total, WRITE_CHUNK):
                stop = min(total, start + WRITE_CHUNK)
                chunk = {c: data[c][start:stop] for c in t.EVENT_COLUMNS}
                result = batch.append_event_columns(chunk, unknown_items=opts.unknown_items)
                out.inserted += result.inserted
                out.duplicates += result.duplicates
                out.placeholders += result.placeholders
                if result.deleted_history:
                    key = "events of deleted shoppers, dated before their deletion"
                    out.skipped[key] = out.skipped.get(key, 0) + result.deleted_history
                bar.update(stop - start)


def _reject_unknown(batch: Batch, source: MappedTable, items: pd.Series) -> None:
    """Raise at the first event naming an item the store lacks."""
    named = set(items.dropna().tolist())
    unknown = named - batch.existing_item_ids(named)
    bad = np.flatnonzero(items.isin(unknown).to_numpy())
    if len(bad):
        raise source.error(
            f"unknown item {items.iloc[bad[0]]!r} ({len(unknown):,} unknown item "
            f"id{'s' if len(unknown) > 1 else ''} in all); import the items file "
            "first, or create placeholder items: pass --unknown-items placeholder "
            "(unknown_items='placeholder' in Python)",
            name="item_id",
            row=int(items.index[bad[0]]),
        )
