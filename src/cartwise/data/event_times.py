"""Plausible event times: not before a floor, not more than a small skew after the clock.

One event stamped in year 9999 would stay a shopper's "latest" event forever (their
recommendations freeze) and one in year 1 makes the store's first event meaningless, so every
door that writes events (HTTP, Python API, file import) checks times against this window.
The bounds are settings: ``CARTWISE_EVENT_FUTURE_SKEW`` (default one day) and
``CARTWISE_EVENT_TIME_FLOOR`` (default 1990-01-01).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from cartwise.config import Settings, get_settings
from cartwise.errors import InputError


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def shown_time(seconds: float) -> str:
    """Epoch seconds as ISO 8601 UTC, or as a number when no calendar date fits."""
    try:
        return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return f"{seconds:.0f} epoch seconds"


@dataclass(frozen=True)
class EventTimeWindow:
    """Event times accepted: from `floor` up to `future_skew` after the current time."""

    floor: datetime
    future_skew: timedelta

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> EventTimeWindow:
        """The window configured in `settings` (the environment's when None)."""
        s = settings if settings is not None else get_settings()
        return cls(floor=_utc(s.event_time_floor), future_skew=s.event_future_skew)

    def bounds(self, now: datetime | None = None) -> tuple[float, float]:
        """(earliest, latest) accepted time in epoch seconds, at `now` (default: the clock)."""
        clock = _utc(now) if now is not None else datetime.now(UTC)
        return self.floor.timestamp(), clock.timestamp() + self.future_skew.total_seconds()

    def too_early_message(self) -> str:
        """The problem and the fix for a time before the floor."""
        return (
            f"event time before {shown_time(self.floor.timestamp())}, the earliest accepted; "
            "fix the time (a date typed wrong, or milliseconds read as seconds?) or lower "
            "CARTWISE_EVENT_TIME_FLOOR"
        )

    def too_late_message(self, latest: float) -> str:
        """The problem and the fix for a time after the clock plus the allowed skew."""
        return (
            f"event time more than {self.future_skew} after the current time (latest "
            f"accepted: {shown_time(latest)}); send the time the event happened, with its "
            "zone, or raise CARTWISE_EVENT_FUTURE_SKEW"
        )

    def check(self, seconds: Sequence[float], *, what: str = "events") -> None:
        """Raise InputError naming the first time (its 1-based row) outside the window.

        Args:
            seconds: event times as epoch seconds, in row order.
            what: the batch or file the rows come from, for the message.
        """
        earliest, latest = self.bounds()
        stamps = np.asarray(seconds, dtype=np.float64)
        bad = np.flatnonzero((stamps < earliest) | (stamps > latest))
        if not len(bad):
            return
        first = float(stamps[bad[0]])
        problem = self.too_early_message() if first < earliest else self.too_late_message(latest)
        more = f" ({len(bad) - 1} more like it)" if len(bad) > 1 else ""
        raise InputError(
            f"{shown_time(first)}: {problem}{more}; nothing was stored",
            source=what,
            line=int(bad[0]) + 1,
            field="timestamp",
        )
