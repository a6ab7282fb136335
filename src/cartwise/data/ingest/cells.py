"""Turning the cells of a file column into Cartwise values, a whole column at a time.

Each converter takes a pandas Series (its index = the 0-based data row of the file) and returns
plain values; on a bad value it raises :class:`CellError` with the first offending row, the value
and the fix, plus how many more rows share the problem. :mod:`cartwise.data.ingest.files` turns that
into an :class:`~cartwise.errors.IngestError` naming file, line and field.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

_NULL_WORDS = frozenset({"", "nan", "null", "none", "nat"})
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
_NUMBER = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?"
#: Text timestamp formats tried in order after ISO 8601 (month/day/year is the US shop export
#: habit, e.g. "12/1/2010 8:26"; day.month.year is unambiguous thanks to the dots).
_DATE_FORMATS = (
    "ISO8601",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
)
TIME_FORMATS_HELP = (
    "accepted: ISO 8601 (2024-03-01T12:30:00Z, 2024-03-01 12:30:00, no zone = UTC), "
    "epoch seconds or milliseconds (1709296200), month/day/year (3/1/2024 12:30), "
    "year/month/day (2024/03/01) or day.month.year (01.03.2024)"
)


class CellError(ValueError):
    """A column holds a bad value; `row` is the first offending row (frame index label)."""

    def __init__(self, row: int, message: str) -> None:
        super().__init__(message)
        self.row = row
        self.message = message


def _fail(values: pd.Series, bad: Any, problem: str) -> CellError:
    positions = np.flatnonzero(np.asarray(bad, dtype=bool))
    value = values.iloc[positions[0]]
    more = len(positions) - 1
    suffix = f" ({more} more row{'s' if more > 1 else ''} like it)" if more else ""
    return CellError(int(values.index[positions[0]]), f"{value!r}: {problem}{suffix}")


def as_text(values: pd.Series) -> pd.Series:
    """Any column as stripped text (pandas 'str' dtype), missing values as NA."""
    text = values.astype("str").str.strip()
    return text.where(~text.str.lower().isin(_NULL_WORDS))


def _id_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 17850.0 from a numeric column with gaps is the id "17850"
    return str(value).strip()


def ids(values: pd.Series, *, max_length: int = 256) -> pd.Series:
    """Identifiers as text (object dtype, None when missing); numbers lose a '.0' suffix."""
    if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object:
        text = values.str.strip()
    else:
        text = values.map(_id_text, na_action="ignore")
    out = text.astype(object).where(text.notna() & (text != ""), None)
    too_long = out.str.len().to_numpy(dtype=float, na_value=0.0) > max_length
    if too_long.any():
        raise _fail(out, too_long, f"longer than {max_length} characters; shorten the id")
    _reject_nul(out)
    return out


def texts(values: pd.Series) -> pd.Series:
    """Free text as object dtype (None when missing)."""
    if not (pd.api.types.is_string_dtype(values.dtype) and values.dtype != object):
        values = values.map(str, na_action="ignore")
    out = values.astype(object).where(values.notna(), None)
    _reject_nul(out)
    return out


def currencies(values: pd.Series) -> pd.Series:
    """Currency codes: text of at most 8 characters (ISO 4217 codes have 3)."""
    out = texts(values).map(lambda v: v.strip() if isinstance(v, str) else v)
    too_long = out.str.len().to_numpy(dtype=float, na_value=0.0) > 8
    if too_long.any():
        raise _fail(out, too_long, "not a currency code; write one such as EUR or USD")
    return out


def _reject_nul(values: pd.Series) -> None:
    """NUL characters: PostgreSQL cannot store them in text (and no real id or title has one).
    One join finds whether any value has one (~20 ms per million ids); only then which."""
    present = [v for v in values.tolist() if v is not None]
    if "\x00" in "".join(present):
        bad = values.map(lambda v: v is not None and "\x00" in v).to_numpy(dtype=bool)
        raise _fail(values, bad, "contains a NUL character (\\x00); remove it")


def floats(values: pd.Series) -> np.ndarray:
    """Numbers as float64 (NaN when missing); raises CellError on text that is not a number."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    text = as_text(values)
    number = pd.to_numeric(text, errors="coerce")
    bad = text.notna() & number.isna()
    if bad.any():
        raise _fail(values, bad, "not a number; write plain numbers such as 12.5 or -3")
    return number.to_numpy(dtype=np.float64, na_value=np.nan)


def _scale_epoch(numbers: np.ndarray) -> np.ndarray:
    """Epoch numbers → seconds; the unit follows the magnitude (s, ms, µs or ns)."""
    size = np.abs(numbers)
    divisor = np.select([size >= 1e17, size >= 1e14, size >= 1e11], [1e9, 1e6, 1e3], 1.0)
    seconds: np.ndarray = numbers / divisor
    return seconds


def epoch_seconds(values: pd.Series) -> np.ndarray:
    """Timestamps as float epoch seconds, UTC (NaN when missing). See TIME_FORMATS_HELP."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
        stamps = pd.to_datetime(values, utc=True)
        return (stamps - _EPOCH).dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan)
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        return _scale_epoch(values.to_numpy(dtype=np.float64, na_value=np.nan))
    text = as_text(values)
    numeric = text.str.fullmatch(_NUMBER).fillna(False).to_numpy(dtype=bool)
    out = np.full(len(text), np.nan)
    if numeric.any():  # only parse numbers where they look like numbers: ISO text is slow there
        number = pd.to_numeric(text[numeric], errors="coerce")
        out[numeric] = _scale_epoch(number.to_numpy(dtype=np.float64, na_value=np.nan))
    rest = text.notna().to_numpy(copy=True) & ~numeric
    for fmt in _DATE_FORMATS:
        if not rest.any():
            break
        where = np.flatnonzero(rest)
        parsed = pd.to_datetime(text.iloc[where], format=fmt, utc=True, errors="coerce")
        ok = parsed.notna().to_numpy()
        out[where[ok]] = (parsed[ok] - _EPOCH).dt.total_seconds().to_numpy(dtype=np.float64)
        rest[where[ok]] = False
    if rest.any():
        raise _fail(values, rest, f"not a timestamp Cartwise can read; {TIME_FORMATS_HELP}")
    return out


_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})


def booleans(values: pd.Series) -> list[bool | None]:
    """true/false, yes/no, 1/0 (any case) → bool; None when missing."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return [bool(v) for v in values]
    text = as_text(values).str.lower()
    bad = text.notna() & ~text.isin(_TRUE | _FALSE)
    if bad.any():
        raise _fail(values, bad, "not a yes/no value; write true or false (also yes/no, 1/0)")
    return [None if pd.isna(v) else v in _TRUE for v in text]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def json_objects(values: pd.Series) -> list[dict[str, Any] | None]:
    """JSON objects (dicts, or text holding one); None when missing."""
    out: list[dict[str, Any] | None] = []
    for row, value in zip(values.index.tolist(), values.tolist(), strict=True):
        if _is_missing(value):  # NaN is truthy: a missing JSON key must not pass as a value
            out.append(None)
            continue
        if isinstance(value, dict):
            out.append(value or None)
            continue
        try:
            parsed = json.loads(value) if isinstance(value, str) and value.strip() else None
        except json.JSONDecodeError:
            parsed = False
        if parsed is not None and not isinstance(parsed, dict):
            raise CellError(
                int(row), f'{value!r}: not a JSON object; write e.g. {{"color": "red"}}'
            )
        out.append(parsed or None)
    return out


def _category_path(value: Any) -> list[str]:
    if isinstance(value, list | tuple | np.ndarray):
        parts = [str(p) for p in value]
    elif not isinstance(value, str):
        parts = [] if _is_missing(value) else [str(value)]
    elif value.strip().startswith("["):
        parsed = json.loads(value)
        if not isinstance(parsed, list):
            raise ValueError(value)
        parts = [str(p) for p in parsed]
    else:
        sep = ">" if ">" in value else "|"
        parts = value.split(sep)
    return [p.strip() for p in parts if p.strip()]


def categories(values: pd.Series) -> list[list[str]]:
    """Category paths, most general first: "A > B", "A|B" or a JSON list ["A", "B"]."""
    out: list[list[str]] = []
    for row, value in zip(values.index.tolist(), values.tolist(), strict=True):
        try:
            out.append(_category_path(value))
        except ValueError:
            raise CellError(
                int(row),
                f"{value!r}: not a category path; write 'Home > Kitchen', 'Home|Kitchen' "
                'or a JSON list ["Home", "Kitchen"]',
            ) from None
    return out
