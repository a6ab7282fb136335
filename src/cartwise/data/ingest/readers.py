"""Reading data files into frames, and turning their cells into Cartwise values.

:func:`read_table` reads CSV, Parquet or JSON Lines (optionally gzip-compressed) into a
:class:`Table`: a DataFrame whose index is the 0-based data row, plus a way back from a row to
the line a person sees in an editor, so that every error can name it. Lines are counted only when
an error needs one, so the fast path pays nothing for them.

A :class:`MappedTable` adds which column holds each Cartwise field, and applies the column
converters of :mod:`cartwise.data.ingest.cells` so that a bad cell becomes an
:class:`~cartwise.errors.IngestError` naming file, line and field.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from cartwise.data.ingest.cells import CellError
from cartwise.errors import IngestError

_log = logging.getLogger(__name__)

Format = Literal["csv", "parquet", "jsonl"]

#: File name endings :func:`read_table` accepts, and the format each one is.
SUPPORTED_SUFFIXES: dict[str, tuple[Format, bool]] = {
    ".csv": ("csv", False),
    ".csv.gz": ("csv", True),
    ".parquet": ("parquet", False),
    ".jsonl": ("jsonl", False),
    ".jsonl.gz": ("jsonl", True),
    ".ndjson": ("jsonl", False),
    ".ndjson.gz": ("jsonl", True),
}

_ICONV_HINT = "re-encode it as UTF-8, e.g. `iconv -f WINDOWS-1252 -t UTF-8 in.csv > out.csv`"


def file_format(path: Path) -> tuple[Format, bool]:
    """Format and whether the file is gzip-compressed, from the file name's ending.

    Raises:
        IngestError: the ending is not one of :data:`SUPPORTED_SUFFIXES`.
    """
    name = path.name.lower()
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return SUPPORTED_SUFFIXES[suffix]
    raise IngestError(
        f"unsupported file type '{''.join(path.suffixes) or '(no extension)'}'; "
        f"supported: {', '.join(SUPPORTED_SUFFIXES)}. Rename the file or convert it",
        source=path.name,
    )


@dataclass
class Table:
    """A file's rows as a DataFrame (index = 0-based data row) and how to name its lines."""

    path: Path
    format: Format
    frame: pd.DataFrame
    text: str | None = field(default=None, repr=False)
    _starts: list[int] | None = field(default=None, repr=False)

    @property
    def columns(self) -> list[str]:
        """Column names as in the file."""
        return [str(c) for c in self.frame.columns]

    def line(self, row: int) -> int:
        """Line of a data row as seen in an editor (CSV: the header is line 1; Parquet: row)."""
        if self.format == "parquet" or self.text is None:
            return row + 1
        if self._starts is None:
            self._starts = _record_starts(self.text, header=self.format == "csv")
        return self._starts[row] if row < len(self._starts) else row + 1

    def error(
        self,
        message: str,
        *,
        row: int | None = None,
        field: str | None = None,
        header: bool = False,
    ) -> IngestError:
        """An IngestError naming this file and, if given, the row's line and the field.

        With `header`, the problem is in the column names: line 1 of a CSV file.
        """
        line = None if row is None else self.line(row)
        if header and self.format == "csv":
            line = 1
        return IngestError(message, source=self.path.name, line=line, field=field)


def _record_starts(text: str, *, header: bool) -> list[int]:
    """First physical line (1-based) of each data record, skipping blank lines."""
    if not header:
        return [i + 1 for i, line in enumerate(text.split("\n")) if line.strip()]
    reader = csv.reader(io.StringIO(text, newline=""))
    starts: list[int] = []
    previous, seen_header = 0, False
    for record in reader:
        start, previous = previous + 1, reader.line_num
        if not record:
            continue
        if seen_header:
            starts.append(start)
        seen_header = True
    return starts


def read_table(path: Path) -> Table:
    """Read a CSV, Parquet or JSON Lines file (see :data:`SUPPORTED_SUFFIXES`).

    CSV cells are read as text (ids keep their leading zeros); Parquet and JSON keep their types.

    Raises:
        IngestError: missing or unreadable file, wrong ending, bad gzip, bytes that are not
            UTF-8, malformed rows, duplicate column names, or no data rows.
    """
    fmt, gz = file_format(path)
    if not path.is_file():
        raise IngestError(f"file not found: {path}; check the path", source=path.name)
    if fmt == "parquet":
        table = Table(path, fmt, _read_parquet(path))
    else:
        text, data = _read_text(path, gz)
        frame = _read_csv(path, data) if fmt == "csv" else _read_jsonl(path, text, data)
        table = Table(path, fmt, frame, text)
    table.frame.columns = [str(c).strip() for c in table.frame.columns]
    _check_columns(table)
    return table


def _read_text(path: Path, gz: bool) -> tuple[str, bytes]:
    try:
        data = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise IngestError(
            f"not a valid gzip file ({exc}); decompress it and drop '.gz' from the name, "
            "or compress it again with `gzip`",
            source=path.name,
        ) from exc
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 4]
        raise IngestError(
            f"bytes {bad!r} are not valid UTF-8 (the file seems to use another encoding); "
            + _ICONV_HINT,
            source=path.name,
            line=line,
        ) from exc
    if not text.strip():
        raise IngestError("the file is empty; it needs a header and data rows", source=path.name)
    return text, data


def _read_csv(path: Path, data: bytes) -> pd.DataFrame:
    header_line = data.split(b"\n", 1)[0].decode("utf-8").rstrip("\r")
    header = next(csv.reader([header_line]), [])
    dupes = sorted({h.strip() for h in header if [x.strip() for x in header].count(h.strip()) > 1})
    if dupes:
        raise IngestError(
            f"the header names column(s) {', '.join(map(repr, dupes))} more than once; "
            "rename them so every column name is unique",
            source=path.name,
            line=1,
        )
    convert = pa_csv.ConvertOptions(
        column_types={h: pa.string() for h in header},
        strings_can_be_null=True,
        null_values=[""],
    )
    parse = pa_csv.ParseOptions(newlines_in_values=True)
    try:
        arrow = pa_csv.read_csv(io.BytesIO(data), convert_options=convert, parse_options=parse)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise IngestError(
            f"cannot parse the CSV: {str(exc).splitlines()[0]}. Every row needs as many "
            "comma-separated fields as the header, and quotes must be closed",
            source=path.name,
            line=_ragged_line(data.decode("utf-8"), len(header)),
        ) from exc
    frame: pd.DataFrame = arrow.to_pandas()
    return frame


def _ragged_line(text: str, width: int) -> int | None:
    """First line (1-based) of a non-blank record whose field count differs from the header's."""
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    try:
        for record in reader:
            if record and len(record) != width:
                return start
            start = reader.line_num + 1
    except csv.Error:
        return start
    return None


def _read_jsonl(path: Path, text: str, data: bytes) -> pd.DataFrame:
    try:
        arrow = pa_json.read_json(io.BytesIO(data))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arrow = None  # mixed types or a bad line: the line-by-line reader names the problem
    if arrow is not None and not any(pa.types.is_nested(f.type) for f in arrow.schema):
        typed: pd.DataFrame = arrow.to_pandas(integer_object_nulls=True)
        return typed
    records: list[dict[str, Any]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IngestError(
                f"invalid JSON ({exc.msg} at column {exc.colno}); each line must be one "
                'JSON object such as {"user_id": "u1", "item_id": "i1"}',
                source=path.name,
                line=number,
            ) from exc
        if not isinstance(record, dict):
            raise IngestError(
                f"expected a JSON object, got {type(record).__name__}; each line must be one "
                "JSON object",
                source=path.name,
                line=number,
            )
        records.append(record)
    return pd.DataFrame(records, dtype=object)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        arrow = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise IngestError(
            f"cannot read the Parquet file ({exc}); check that it is a complete Parquet file",
            source=path.name,
        ) from exc
    frame: pd.DataFrame = arrow.to_pandas(integer_object_nulls=True)
    return frame


def _check_columns(table: Table) -> None:
    names = table.columns
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise table.error(
            f"column(s) {', '.join(map(repr, dupes))} appear more than once; "
            "rename them so every column name is unique"
        )
    if not names or table.frame.empty:
        raise table.error(
            "the file has no data rows"
            + (f" (columns: {', '.join(names)})" if names else "")
            + "; check that it is the right file and that it is not truncated"
        )


_R = TypeVar("_R")


@dataclass
class MappedTable:
    """A :class:`Table` plus which file column holds each Cartwise field.

    Its helpers convert a field's column and raise errors that name the column as the file
    spells it (and the Cartwise field, when a mapping renamed it).
    """

    table: Table
    columns: dict[str, str]

    def label(self, name: str) -> str:
        """The file's column for field `name` (the field name itself when unmapped)."""
        return self.columns.get(name, name)

    def error(
        self, message: str, *, name: str, row: int | None = None, header: bool = False
    ) -> IngestError:
        """An IngestError about field `name` (at `row` if given)."""
        column = self.label(name)
        if column != name:
            message = f"{message} (column {column!r} is mapped to {name})"
        return self.table.error(message, row=row, field=column, header=header)

    def convert(self, frame: pd.DataFrame, name: str, fn: Callable[[pd.Series], _R]) -> _R:
        """Apply a converter from :mod:`cartwise.data.ingest.cells` to a field's column."""
        try:
            return fn(frame[self.columns[name]])
        except CellError as exc:
            raise self.error(exc.message, name=name, row=exc.row) from None

    def fail_where(self, mask: Any, index: pd.Index, name: str, message: str) -> None:
        """Raise `message` at the first row where `mask` holds, saying how many more do."""
        bad = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(bad):
            row = int(index[bad[0]])
            more = f" ({len(bad) - 1:,} more rows like it)" if len(bad) > 1 else ""
            column = self.columns.get(name)
            shown = self.table.frame.at[row, column] if column is not None else None
            if (isinstance(shown, str) and shown.strip()) or (
                isinstance(shown, int | float) and not np.isnan(shown)
            ):
                message = f"{shown!r}: {message}"
            raise self.error(message + more, name=name, row=row)

    def unique(self, keys: pd.Series, name: str, policy: str) -> np.ndarray:
        """Rows to keep when `keys` (ids) repeat: error, or keep the "first" or "last" row."""
        repeated = keys.notna() & keys.duplicated(keep="first")
        if not repeated.any():
            return np.ones(len(keys), dtype=bool)
        if policy == "error":
            row = int(keys.index[np.flatnonzero(repeated.to_numpy())[0]])
            value = keys.loc[row]
            first = int(keys.index[np.flatnonzero((keys == value).to_numpy())[0]])
            raise self.error(
                f"duplicate {name} {value!r} (first on line {self.table.line(first)}); ids must "
                "be unique within a file. Remove the extra rows, or keep the first or last one: "
                "pass --on-duplicate first or last (on_duplicate='first' or 'last' in Python)",
                name=name,
                row=row,
            )
        keep: Literal["first", "last"] = "first" if policy == "first" else "last"
        mask: np.ndarray = (~(keys.notna() & keys.duplicated(keep=keep))).to_numpy()
        return mask
