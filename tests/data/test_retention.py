"""Retention (`purge`): ages, counts, dry run, oldest first in batches, and an interruption
that leaves a consistent store; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, update

from cartwise.data import tables as t
from cartwise.data.feedback import FeedbackRecord, log_served, record_feedback
from cartwise.data.retention import PurgeReport, parse_age, purge
from cartwise.data.schema import Event, EventKind, Item
from cartwise.data.store import Store
from cartwise.errors import InputError

NOW = datetime(2025, 6, 1, tzinfo=UTC).timestamp()
DAY = 86400.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("365d", 365 * DAY), ("90d", 90 * DAY), ("12h", 12 * 3600), ("30m", 1800), ("2w", 14 * DAY),
     ("45s", 45), (" 1.5d ", 1.5 * DAY)],
)  # fmt: skip
def test_parse_age(text: str, seconds: float) -> None:
    assert parse_age(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "365", "d", "12x", "-3d", "0d", "1 year"])
def test_parse_age_rejects_with_the_forms(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_age(text, name="--older-than")
    assert str(caught.value) == (
        f"field '--older-than': {text!r} is not an age; write a positive number and a unit: "
        "s, m, h, d or w (e.g. 365d, 90d, 12h)"
    )


def _age_served(store: Store, rec: str, days_ago: float) -> None:
    with store.engine.begin() as conn:
        s = t.served.c
        conn.execute(update(t.served).where(s.recommendation_id == rec).values(
            ts=NOW - days_ago * DAY))  # fmt: skip
        f = t.feedback.c
        conn.execute(update(t.feedback).where(f.recommendation_id == rec).values(
            ts=NOW - days_ago * DAY + 60))  # fmt: skip


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """Events 1..20 days old (u1: the odd days, u2: the even ones); served answers 1..10 days
    old, each with an impression and a click."""
    s = Store.open(store_url)
    s.upsert_items([Item(id=f"i{n}", title=f"item {n}") for n in range(3)])
    s.append_events(
        Event(event_id=f"e{d}", user_id=f"u{1 + d % 2}", item_id=f"i{d % 3}",
              kind=EventKind.VIEW, timestamp=datetime.fromtimestamp(NOW - d * DAY, UTC))
        for d in range(1, 21)
    )  # fmt: skip
    for d in range(1, 11):
        rec = log_served(s, "user", "u1", "v1", ["i0", "i1"])
        record_feedback(s, [FeedbackRecord(rec, "i1", "click")])
        _age_served(s, rec, d)
    yield s
    s.close()


def counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {
            name: int(conn.scalar(select(func.count()).select_from(t.metadata.tables[name])) or 0)
            for name in ("events", "served", "feedback", "users")
        }


def oldest_event_days(store: Store) -> float:
    with store.engine.connect() as conn:
        return (NOW - float(conn.scalar(select(func.min(t.events.c.ts))))) / DAY


def test_dry_run_counts_what_purge_deletes(store: Store) -> None:
    before = counts(store)
    planned = purge(store, timedelta(days=7.5), dry_run=True, now=NOW)
    assert (planned.events, planned.served, planned.feedback) == (13, 3, 6)
    assert planned.dry_run and planned.complete
    assert counts(store) == before
    done = purge(store, timedelta(days=7.5), now=NOW, batch_size=4)
    assert (done.events, done.served, done.feedback) == (13, 3, 6)
    assert counts(store) == {"events": 7, "served": 7, "feedback": 14, "users": 2}
    assert oldest_event_days(store) == 7
    assert done.cutoff == datetime.fromtimestamp(NOW - 7.5 * DAY, UTC)
    assert purge(store, timedelta(days=7.5), now=NOW).as_dict() == {
        "cutoff": done.cutoff.isoformat(), "dry_run": False, "events": 0, "served": 0,
        "feedback": 0, "complete": True,
    }  # fmt: skip


def test_batches_go_oldest_first_and_report_each_commit(store: Store) -> None:
    seen: list[tuple[int, int, int, float]] = []

    def step(report: PurgeReport) -> None:
        seen.append((report.events, report.served, report.feedback, oldest_event_days(store)))

    purge(store, timedelta(days=15.5), now=NOW, batch_size=2, on_batch=step)
    # events 19-20, 17-18, then 16 gone, each batch committed; no served answer is that old
    assert seen == [(2, 0, 0, 18), (4, 0, 0, 16), (5, 0, 0, 15)]


def test_an_interrupted_purge_leaves_whole_batches_and_finishes_on_rerun(store: Store) -> None:
    """Ctrl-C between the feedback and the served delete of the second served batch: that
    batch is rolled back whole (no answer without its feedback, no orphan feedback)."""
    deletes: list[str] = []

    def interrupt(conn: Any, clause: Any, *args: Any) -> None:
        text = str(clause)
        if text.startswith("DELETE FROM feedback"):
            deletes.append(text)
            if len(deletes) == 2:
                raise KeyboardInterrupt

    reports: list[PurgeReport] = []
    event.listen(store.engine, "after_execute", interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            purge(store, timedelta(days=4.5), now=NOW, batch_size=3, on_batch=reports.append)
    finally:
        event.remove(store.engine, "after_execute", interrupt)
    last = reports[-1]
    assert (last.events, last.served, last.feedback) == (16, 3, 6)  # events, one served batch
    assert counts(store) == {"events": 4, "served": 7, "feedback": 14, "users": 2}
    with store.engine.connect() as conn:
        per_answer = conn.execute(
            select(t.served.c.recommendation_id, func.count(t.feedback.c.seq))
            .select_from(t.served.outerjoin(t.feedback, t.served.c.recommendation_id
                                            == t.feedback.c.recommendation_id))
            .group_by(t.served.c.recommendation_id)
        ).all()  # fmt: skip
    assert sorted(n for _, n in per_answer) == [2] * 7
    rest = purge(store, timedelta(days=4.5), now=NOW)
    assert (rest.events, rest.served, rest.feedback) == (0, 3, 6)
    assert counts(store) == {"events": 4, "served": 4, "feedback": 8, "users": 2}


def test_feedback_older_than_the_cutoff_goes_even_on_a_newer_answer(store: Store) -> None:
    with store.engine.begin() as conn:
        first = conn.scalar(select(t.feedback.c.seq).order_by(t.feedback.c.seq).limit(1))
        conn.execute(update(t.feedback).where(t.feedback.c.seq == first).values(ts=NOW - 50 * DAY))
    assert purge(store, timedelta(days=30), now=NOW, dry_run=True).feedback == 1
    assert purge(store, timedelta(days=30), now=NOW).feedback == 1
    assert counts(store)["feedback"] == 19


def test_bad_arguments_are_refused(store: Store) -> None:
    with pytest.raises(InputError, match="must be positive"):
        purge(store, timedelta(0))
    with pytest.raises(InputError, match="must be positive"):
        purge(store, timedelta(days=1), batch_size=0)
