"""Import items, users or events from a file into the Store, all or nothing.

Every row is converted and checked first, column by column (pandas/numpy); the first problem
stops the import with one :class:`~cartwise.errors.IngestError` naming the file, the line as an
editor shows it, the field and the fix. Only then is the file written, in one
:meth:`Store.batch` transaction (chunked, with an optional progress bar): an error or Ctrl-C
while writing leaves the store as it was.

Field names are those of :mod:`cartwise.data.schema`; a mapping renames file columns
(``user_id=CustomerID``). Events without an ``event_id`` column get one derived from the row's
values and its occurrence number among identical rows, so importing a file again adds nothing.

Parts: :mod:`~cartwise.data.ingest.readers` reads files and numbers their lines,
:mod:`~cartwise.data.ingest.cells` converts columns, :mod:`~cartwise.data.ingest.events` handles
events and :mod:`~cartwise.data.ingest.items` items and users (one pydantic record per row).

Example:
    >>> summary = ingest_file(store, "events", Path("orders.csv"),
    ...                       mapping={"user_id": "CustomerID"}, default_kind="purchase")
    >>> print("\\n".join(summary.lines()))
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cartwise.data.ingest.events import (
    KINDS_HELP,
    EventOptions,
    ingest_events,
)
from cartwise.data.ingest.items import FIELDS, ingest_records
from cartwise.data.ingest.readers import MappedTable, Table, read_table
from cartwise.data.store import Store
from cartwise.errors import InputError

_log = logging.getLogger(__name__)

Kind = Literal["items", "users", "events"]


@dataclass
class IngestSummary:
    """What an import did.

    Attributes:
        kind: "items", "users" or "events".
        path: the file.
        rows_read: data rows in the file.
        inserted: records new to the store.
        duplicates: records already in the store (events: skipped; items/users: updated).
        skipped: rows left out on purpose, by reason (e.g. "missing user_id").
        placeholders: placeholder items created for unknown item ids.
        seconds: wall time of the import.
        ignored_columns: file columns no field used.
    """

    kind: str
    path: Path
    rows_read: int
    inserted: int
    duplicates: int
    skipped: dict[str, int] = field(default_factory=dict)
    placeholders: int = 0
    seconds: float = 0.0
    ignored_columns: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """Human-readable summary, one fact per line, for the CLI."""
        out = [
            f"{self.kind} from {self.path.name}: {self.rows_read:,} rows read "
            f"in {self.seconds:.1f} s"
        ]
        if self.kind == "events":
            out.append(
                f"{self.inserted:,} events added, {self.duplicates:,} already in the "
                "store (left as they were)"
            )
        else:
            out.append(
                f"{self.inserted:,} new {self.kind}, {self.duplicates:,} already in the "
                "store (updated)"
            )
        out += [f"{n:,} rows skipped: {reason}" for reason, n in self.skipped.items() if n]
        if self.placeholders:
            out.append(
                f"{self.placeholders:,} placeholder items created for unknown item ids; "
                "import the catalog to fill them in"
            )
        if self.ignored_columns:
            out.append(f"columns not used: {', '.join(self.ignored_columns)}")
        return out


def parse_mapping(pairs: Sequence[str]) -> dict[str, str]:
    """``["user_id=CustomerID", ...]`` → ``{"user_id": "CustomerID"}``.

    Raises:
        InputError: a pair is not FIELD=COLUMN, or names a field twice.
    """
    mapping: dict[str, str] = {}
    for pair in pairs:
        name, sep, column = (part.strip() for part in pair.partition("="))
        if not sep or not name or not column:
            raise InputError(
                f"bad column mapping '{pair}'; write FIELD=COLUMN, e.g. user_id=CustomerID",
                source="mapping",
            )
        if name in mapping:
            raise InputError(
                f"field '{name}' is mapped twice ('{mapping[name]}' and '{column}'); keep one",
                source="mapping",
                field=name,
            )
        mapping[name] = column
    return mapping


def parse_kind_map(pairs: Sequence[str]) -> dict[str, str]:
    """``["pv=view,cart=add_to_cart", "buy=purchase"]`` → ``{"pv": "view", ...}``: file kind
    value → Cartwise kind, both lowercased; pairs may be comma-separated or repeated.

    Raises:
        InputError: a pair is not VALUE=KIND, or maps a value twice to different kinds.
    """
    found: dict[str, str] = {}
    for pair in (p for chunk in pairs for p in chunk.split(",") if p.strip()):
        value, sep, target = (part.strip().lower() for part in pair.partition("="))
        if not sep or not value or not target:
            raise InputError(
                f"bad kind mapping '{pair.strip()}'; write FILE_VALUE=KIND, e.g. "
                "--kind-map pv=view,buy=purchase",
                source="kind_map",
            )
        if found.get(value, target) != target:
            raise InputError(
                f"kind value '{value}' is mapped twice ('{found[value]}' and '{target}'); keep one",
                source="kind_map",
                field=value,
            )
        found[value] = target
    return found


def ingest_file(
    store: Store,
    kind: Literal["items", "users", "events"],
    path: Path,
    *,
    mapping: Mapping[str, str] | None = None,
    unknown_items: Literal["reject", "placeholder"] = "reject",
    on_duplicate: Literal["error", "first", "last"] = "error",
    default_kind: str | None = None,
    negative_value: Literal["return", "skip", "error"] = "error",
    missing_user: Literal["error", "skip"] = "error",
    progress: bool = False,
    kind_map: Mapping[str, str] | None = None,
) -> IngestSummary:
    """Import one file of items, users or events; nothing is written unless all of it is valid.

    Args:
        store: where to write.
        kind: what the file holds.
        path: a .csv, .parquet or .jsonl/.ndjson file (.csv.gz and .jsonl.gz too).
        mapping: Cartwise field → file column (a field not mapped: the column of its name).
        unknown_items: events naming an item the store lacks: "reject" (error) or
            "placeholder" (create an empty, unavailable item to fill in later).
        on_duplicate: an id repeated inside the file (items/users id, events event_id):
            "error", or keep the "first" or "last" row (the others count as skipped).
        default_kind: events: the kind of rows without one (e.g. "purchase" for an order
            export with no kind column).
        negative_value: events other than ratings with value < 0, e.g. shop cancellations:
            import as "return" events with the absolute value, "skip" them (counted), or
            "error".
        missing_user: events without a user id: "error", or "skip" them (counted).
        progress: show a progress bar while writing.
        kind_map: events: the file's kind values → Cartwise kinds, e.g. ``{"pv": "view",
            "buy": "purchase"}`` (case-insensitive); a target must be built in or declared
            (:meth:`Store.declare_kind`). Values the map does not name must be kinds already.

    Returns what was read, written, skipped and created. Raises IngestError when the file or a
    value in it is invalid (the store is unchanged), InputError when an option is not one of
    the choices above.
    """
    started = time.perf_counter()
    path = Path(path)
    opts = _options(
        kind, unknown_items, on_duplicate, default_kind, negative_value, missing_user, progress
    )
    if kind == "events":
        opts = _event_kinds(opts, [k.name for k in store.event_kinds()], kind_map or {})
    table = read_table(path)
    source = MappedTable(table, _resolve_columns(table, kind, dict(mapping or {}), opts))
    if kind == "events":
        summary = _events_summary(store, source, opts)
    else:
        summary = _records_summary(store, source, kind, opts)
    summary.ignored_columns = tuple(c for c in table.columns if c not in source.columns.values())
    summary.seconds = time.perf_counter() - started
    _log.info("ingest %s: %s", path, "; ".join(summary.lines()))
    return summary


#: The command-line spelling of each option of :func:`ingest_file`.
_FLAGS = {"kind": "the KIND argument", "default_kind": "the --kind option"}


def _choice(name: str, value: object, allowed: Sequence[object]) -> None:
    if value not in allowed:
        flag = _FLAGS.get(name, f"the --{name.replace('_', '-')} option")
        raise InputError(
            f"{name}={value!r} is not a valid choice ({flag} in the CLI); use one "
            "of: " + ", ".join(str(a) for a in allowed),
            source="options",
            field=name,
        )


def _options(
    kind: str,
    unknown: Any,
    duplicate: Any,
    default_kind: str | None,
    negative: Any,
    missing: Any,
    progress: bool,
) -> EventOptions:
    _choice("kind", kind, tuple(FIELDS))
    _choice("unknown_items", unknown, ("reject", "placeholder"))
    _choice("on_duplicate", duplicate, ("error", "first", "last"))
    _choice("negative_value", negative, ("return", "skip", "error"))
    _choice("missing_user", missing, ("error", "skip"))
    if default_kind is not None:
        default_kind = default_kind.strip().lower()
    return EventOptions(unknown, duplicate, default_kind, negative, missing, progress)


def _event_kinds(
    opts: EventOptions, known: Sequence[str], kind_map: Mapping[str, str]
) -> EventOptions:
    """Check the default kind and the kind map's targets against the store's kinds."""
    if opts.default_kind is not None:
        _choice("default_kind", opts.default_kind, known)
    clean = {str(k).strip().lower(): str(v).strip().lower() for k, v in kind_map.items()}
    for value, target in clean.items():
        if target not in known:
            raise InputError(
                f"--kind-map {value}={target}: '{target}' is not an event kind; map to one of "
                f"{', '.join(known)}, or declare it first (cartwise kinds add {target})",
                source="kind_map",
                field=value,
            )
    return dataclasses.replace(opts, kind_map=clean)


def _resolve_columns(
    table: Table, kind: str, mapping: dict[str, str], opts: EventOptions
) -> dict[str, str]:
    """Field → file column, checking the mapping and that required fields are present."""
    fields = FIELDS[kind]
    for name in mapping:
        if name not in fields:
            raise table.error(
                f"unknown field '{name}' in the column mapping; {kind} fields are: "
                + ", ".join(fields),
                field=name,
            )
    listing = ", ".join(table.columns)
    columns: dict[str, str] = {}
    for name in fields:
        column = mapping.get(name, name)
        if column in table.columns:
            columns[name] = column
        elif name in mapping:
            raise table.error(
                f"column '{column}' (mapped to {name}) is not in the file; its columns are: "
                f"{listing}. Fix the mapping",
                field=column,
                header=True,
            )
    required = ["id"] if kind != "events" else ["user_id", "timestamp"]
    if kind == "events" and opts.default_kind is None:
        required.append("kind")
    for name in required:
        if name not in columns:
            hint = (
                f", or set a default kind with --kind KIND (default_kind=KIND in Python; one of: "
                f"{KINDS_HELP})"
                if name == "kind"
                else ""
            )
            raise table.error(
                f"missing required column '{name}'; the file's columns are: {listing}. "
                f"Rename a column to '{name}' or map one (--map {name}=COLUMN, "
                f"mapping={{'{name}': COLUMN}} in Python){hint}",
                field=name,
                header=True,
            )
    return columns


# -- items and users ---------------------------------------------------------------------


def _events_summary(store: Store, source: MappedTable, opts: EventOptions) -> IngestSummary:
    written = ingest_events(store, source, opts)
    return IngestSummary(
        "events",
        source.table.path,
        len(source.table.frame),
        written.inserted,
        written.duplicates,
        written.skipped,
        placeholders=written.placeholders,
    )


def _records_summary(
    store: Store, source: MappedTable, kind: str, opts: EventOptions
) -> IngestSummary:
    written = ingest_records(store, source, kind, opts)
    return IngestSummary(
        kind,
        source.table.path,
        len(source.table.frame),
        inserted=written.inserted,
        duplicates=written.duplicates,
        skipped={
            reason: n
            for reason, n in (
                ("duplicate id", written.dropped),
                ("deleted shoppers (new events bring a shopper back)", written.deleted),
            )
            if n
        },
    )
