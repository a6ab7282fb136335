"""Times as the store keeps them: float seconds since the Unix epoch, UTC.

Compact, indexable, exact to the microsecond, and the same on SQLite (REAL) and PostgreSQL
(double precision).
"""

from __future__ import annotations

from datetime import UTC, datetime


def to_epoch(value: datetime) -> float:
    """Aware or naive (taken as UTC) datetime → float seconds since the epoch."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def from_epoch(value: float) -> datetime:
    """Float seconds since the epoch → aware UTC datetime."""
    return datetime.fromtimestamp(value, UTC)


def now_epoch() -> float:
    """The current time in epoch seconds."""
    return to_epoch(datetime.now(UTC))
