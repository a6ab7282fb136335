"""Retention: delete events and served answers (with their feedback) older than an age.

:func:`purge` works oldest first, in batches of at most `batch_size` rows, each batch one
transaction, so it never holds a long lock and can be stopped at any time:

- events go first. Since the oldest go first, the store after a stop is the store a purge with
  an earlier cut-off would have left: no shopper's history has a hole in the middle.
- then served answers, each batch together with its feedback (no click outlives the answer it
  was on, no answer is left with half its feedback);
- last, any feedback itself older than the cut-off (a click posted while its answer was being
  purged).

An interrupted purge is finished by running it again. User rows are kept (a shopper is removed
with ``cartwise delete-user``); models trained before keep what they learnt (retrain).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, or_, select

from cartwise.data import tables as t
from cartwise.data.store import Store
from cartwise.data.times import from_epoch
from cartwise.errors import InputError

_log = logging.getLogger(__name__)

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_E, _S, _F = t.events.c, t.served.c, t.feedback.c
_IN_CHUNK = 900  # ids per IN (...)


def parse_age(text: str, *, name: str = "older_than") -> timedelta:
    """``"365d"``, ``"90d"``, ``"12h"``, ``"30m"``, ``"2w"``, ``"45s"`` → a positive duration.

    Raises:
        InputError: naming `name` and the forms accepted.
    """
    found = _AGE.match(text)
    seconds = float(found.group(1)) * _UNITS[found.group(2)] if found else 0.0
    if seconds <= 0:
        raise InputError(
            f"{text!r} is not an age; write a positive number and a unit: s, m, h, d or w "
            "(e.g. 365d, 90d, 12h)",
            field=name,
        )
    return timedelta(seconds=seconds)


@dataclass
class PurgeReport:
    """What a purge deleted (or, in a dry run, would delete) so far.

    Attributes:
        cutoff: rows dated before this were (or would be) deleted.
        dry_run: nothing was deleted; the counts are what a purge would delete now.
        events: events deleted.
        served: served answers deleted.
        feedback: feedback rows deleted (with their answers, or older than the cut-off).
        complete: whether the purge ran to the end (False after an interruption).
    """

    cutoff: datetime
    dry_run: bool
    events: int = 0
    served: int = 0
    feedback: int = 0
    complete: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self) | {"cutoff": self.cutoff.isoformat()}


Progress = Callable[[PurgeReport], None]


def purge(
    store: Store,
    older_than: timedelta,
    *,
    dry_run: bool = False,
    batch_size: int = 5000,
    now: float | None = None,
    on_batch: Progress | None = None,
) -> PurgeReport:
    """Delete events, served answers and feedback dated more than `older_than` ago.

    Args:
        dry_run: count what would be deleted; delete nothing.
        batch_size: most rows of one table deleted per transaction.
        now: the current time in epoch seconds (default: the clock).
        on_batch: called with the report after each committed batch.
    """
    if older_than <= timedelta(0) or batch_size < 1:
        raise InputError("older_than and batch_size must be positive", field="older_than")
    cutoff = (time.time() if now is None else now) - older_than.total_seconds()
    report = PurgeReport(from_epoch(cutoff), dry_run)
    if dry_run:
        _count(store.engine, cutoff, report)
    else:
        for step in (_events_batch, _served_batch, _feedback_batch):
            while step(store.engine, cutoff, batch_size, report):
                if on_batch is not None:
                    on_batch(report)
    report.complete = True
    _log.info("purge before %s: %s", report.cutoff.isoformat(), report.as_dict())
    return report


def _count(engine: Engine, cutoff: float, report: PurgeReport) -> None:
    old_served = select(_S.recommendation_id).where(_S.ts < cutoff)
    with engine.connect() as conn:
        report.events = _n(conn, select(func.count()).where(_E.ts < cutoff))
        report.served = _n(conn, select(func.count()).where(_S.ts < cutoff))
        report.feedback = _n(
            conn,
            select(func.count()).where(
                or_(_F.recommendation_id.in_(old_served.scalar_subquery()), _F.ts < cutoff)
            ),
        )


def _n(conn: Connection, stmt: Any) -> int:
    return int(conn.scalar(stmt) or 0)


def _oldest_rows(engine: Engine, table: Any, cutoff: float, n: int) -> int:
    """Delete the `n` oldest rows of an append-only table (`ts`, `seq`) older than `cutoff`."""
    col = table.c
    oldest = select(col.seq).where(col.ts < cutoff).order_by(col.ts, col.seq).limit(n)
    with engine.begin() as conn:
        done = conn.execute(delete(table).where(col.seq.in_(oldest.scalar_subquery())))
    return int(done.rowcount)


def _events_batch(engine: Engine, cutoff: float, n: int, report: PurgeReport) -> bool:
    done = _oldest_rows(engine, t.events, cutoff, n)
    report.events += done
    return done > 0


def _served_batch(engine: Engine, cutoff: float, n: int, report: PurgeReport) -> bool:
    oldest = (
        select(_S.recommendation_id)
        .where(_S.ts < cutoff)
        .order_by(_S.ts, _S.recommendation_id)
        .limit(n)
    )
    with engine.begin() as conn:
        ids = list(conn.scalars(oldest))
        feedback = served = 0
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            feedback += conn.execute(
                delete(t.feedback).where(_F.recommendation_id.in_(chunk))
            ).rowcount
            served += conn.execute(delete(t.served).where(_S.recommendation_id.in_(chunk))).rowcount
    report.served += served
    report.feedback += feedback
    return bool(ids)


def _feedback_batch(engine: Engine, cutoff: float, n: int, report: PurgeReport) -> bool:
    done = _oldest_rows(engine, t.feedback, cutoff, n)
    report.feedback += done
    return done > 0
