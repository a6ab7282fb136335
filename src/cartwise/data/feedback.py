"""Logging served recommendations and storing the feedback on them; online metrics.

Every answer the service gives gets a ``recommendation_id`` and a row in ``served``; feedback
(impression, click, purchase) names that id and one of the items shown, so click-through rates
per model version are a join away (:func:`online_metrics`).

Shopper ids are stored as the store keeps them (:mod:`cartwise.data.privacy`); an answer for a
deleted shopper who has not come back is logged without their id
(:func:`cartwise.data.deletion.drop_deleted_ids`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from cartwise.data.deletion import drop_deleted_ids
from cartwise.data.store import Store, to_epoch
from cartwise.data.tables import experiments, feedback, metadata, served
from cartwise.errors import BatchError

_log = logging.getLogger(__name__)

FEEDBACK_KINDS = ("impression", "click", "add_to_cart", "purchase")
_INSERT_SERVED = insert(served)  # built once: this runs on every answer


@dataclass(frozen=True)
class FeedbackRecord:
    """One feedback event as received (validated against the served log before storing)."""

    recommendation_id: str
    item_id: str
    kind: str
    timestamp: datetime | None = None
    value: float | None = None  # a purchase's revenue (None: the item's price counts)


def log_served(
    store: Store,
    scenario: str,
    user_id: str | None,
    model_version: str | None,
    item_ids: Sequence[str],
    variant: tuple[str, str] | None = None,
) -> str:
    """Record an answer (with its (experiment id, variant name) when it came from an
    experiment); returns its new recommendation id."""
    row = _served_row(scenario, _stored(store, user_id), model_version, item_ids, variant)
    with store.engine.begin() as conn:
        drop_deleted_ids(conn, store.privacy, [row])
        conn.execute(_INSERT_SERVED, row)
    return str(row["recommendation_id"])


def _stored(store: Store, user_id: str | None) -> str | None:
    return None if user_id is None else store.privacy.stored(user_id)


def _served_row(
    scenario: str,
    user_id: str | None,
    model_version: str | None,
    item_ids: Sequence[str],
    variant: tuple[str, str] | None = None,
) -> dict[str, Any]:
    experiment_id, name = variant if variant is not None else (None, None)
    return {
        "experiment_id": experiment_id,
        "variant": name,
        "recommendation_id": uuid.uuid4().hex,
        "user_id": user_id,
        "scenario": scenario,
        "model_version": model_version,
        "items": list(item_ids),
        "ts": time.time(),
    }


class ServedLog:
    """:func:`log_served` with group commit: one writer thread stores the rows of concurrent
    answers in one transaction.

    Each caller still returns only once its row is committed (feedback may name the id at once,
    from any process), but concurrent answers no longer take turns at SQLite's write lock:
    a writer that finds it taken sleeps in SQLite's busy handler for milliseconds, which made
    the slowest answers under load.

    Args:
        store: where rows are written.
        max_batch: most rows committed together.
    """

    def __init__(self, store: Store, max_batch: int = 256) -> None:
        self.store = store
        self.max_batch = max_batch
        self._rows: queue.SimpleQueue[tuple[dict[str, Any], Future[None]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def log(
        self,
        scenario: str,
        user_id: str | None,
        model_version: str | None,
        item_ids: Sequence[str],
        variant: tuple[str, str] | None = None,
    ) -> str:
        """Record an answer (committed on return; `variant`: its experiment id and variant
        name); returns its new recommendation id."""
        row = _served_row(scenario, _stored(self.store, user_id), model_version, item_ids, variant)
        done: Future[None] = Future()
        self._ensure_started()
        self._rows.put((row, done))
        done.result()
        return str(row["recommendation_id"])

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="cartwise-served", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        while True:
            jobs = [self._rows.get()]
            while len(jobs) < self.max_batch:
                try:
                    jobs.append(self._rows.get_nowait())
                except queue.Empty:
                    break
            self._write(jobs)

    def _write(self, jobs: list[tuple[dict[str, Any], Future[None]]]) -> None:
        try:
            with self.store.engine.begin() as conn:
                rows = [row for row, _ in jobs]
                drop_deleted_ids(conn, self.store.privacy, rows)
                conn.execute(_INSERT_SERVED, rows)
        except BaseException as exc:  # each caller gets the error in its own thread
            if len(jobs) == 1:
                jobs[0][1].set_exception(exc)
                return
            for job in jobs:  # one at a time, so one bad row does not fail the others
                self._write([job])
            return
        for _, done in jobs:
            done.set_result(None)


@dataclass(frozen=True)
class FeedbackStored:
    """What a feedback post stored: new rows (impressions implied by clicks and purchases
    included) and rows already there (retries change nothing)."""

    stored: int
    duplicates: int
    implied_impressions: int


def record_feedback(store: Store, records: Sequence[FeedbackRecord]) -> FeedbackStored:
    """Store feedback, all or nothing; every bad record is named (index and field).

    Idempotent: (recommendation_id, item_id, kind) is the key, so posting the same click twice
    stores it once. A click or purchase of an item whose impression was not posted implies that
    impression (the shopper saw what they clicked), so clicks never outnumber impressions.
    """
    ids = list({r.recommendation_id for r in records})
    with store.engine.begin() as conn:
        shown = {
            rid: (user, set(items))
            for rid, user, items in conn.execute(
                select(served.c.recommendation_id, served.c.user_id, served.c["items"]).where(
                    served.c.recommendation_id.in_(ids)
                )
            )
        }
        problems = _problems(records, shown)
        if problems:
            raise BatchError(
                "feedback",
                problems,
                "feedback must name a recommendation_id returned by this service and one of the "
                "items it listed",
            )
        rows = _feedback_rows(records, shown)
        have = {
            tuple(k)
            for k in conn.execute(
                select(feedback.c.recommendation_id, feedback.c.item_id, feedback.c.kind).where(
                    feedback.c.recommendation_id.in_(ids)
                )
            )
        }
        new = [r for r in rows if _key(r) not in have]
        if new:
            conn.execute(_insert_ignoring_duplicates(conn), [_without_implied(r) for r in new])
    explicit = sum(1 for r in rows if not r["implied"])
    stored = sum(1 for r in new if not r["implied"])
    return FeedbackStored(stored, explicit - stored, len(new) - stored)


def _feedback_rows(
    records: Sequence[FeedbackRecord], shown: dict[str, tuple[str | None, set[str]]]
) -> list[dict[str, Any]]:
    """One row per record (its impression first when it is a click or purchase), unique keys."""
    now = time.time()
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in records:
        ts = to_epoch(r.timestamp) if r.timestamp is not None else now
        user = shown[r.recommendation_id][0]
        if r.kind != "impression":
            key = (r.recommendation_id, r.item_id, "impression")
            rows.setdefault(key, _row(key, user, ts, implied=True))
        key = (r.recommendation_id, r.item_id, r.kind)
        if key in rows and rows[key]["implied"]:
            rows[key]["implied"] = False  # the impression was posted too, after its click
        rows.setdefault(key, _row(key, user, ts, implied=False) | {"value": r.value})
    return list(rows.values())


def _row(
    key: tuple[str, str, str], user: str | None, ts: float, *, implied: bool
) -> dict[str, Any]:
    rec, item, kind = key
    return {"recommendation_id": rec, "user_id": user, "item_id": item, "kind": kind, "ts": ts,
            "value": None, "implied": implied}  # fmt: skip


def _key(row: dict[str, Any]) -> tuple[str, str, str]:
    return (row["recommendation_id"], row["item_id"], row["kind"])


def _without_implied(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "implied"}


def _insert_ignoring_duplicates(conn: Connection) -> Any:
    """INSERT that skips rows whose key a concurrent post stored a moment ago."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(feedback).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(feedback).on_conflict_do_nothing()


def _problems(
    records: Sequence[FeedbackRecord], shown: dict[str, tuple[str | None, set[str]]]
) -> list[tuple[int, str, str]]:
    out = []
    for n, r in enumerate(records):
        if r.recommendation_id not in shown:
            out.append((n, "recommendation_id", f"unknown recommendation '{r.recommendation_id}'"))
        elif r.item_id not in shown[r.recommendation_id][1]:
            out.append((n, "item_id", f"item '{r.item_id}' was not in {r.recommendation_id}"))
    return out


def online_metrics(store: Store) -> list[dict[str, object]]:
    """Per model version and scenario: answers served, impressions, clicks, purchases, CTR."""
    s, f = served.c, feedback.c
    with store.engine.connect() as conn:
        counts = conn.execute(
            select(s.model_version, s.scenario, func.count()).group_by(s.model_version, s.scenario)
        ).all()
        kinds = conn.execute(
            select(s.model_version, s.scenario, f.kind, func.count())
            .select_from(feedback.join(served, f.recommendation_id == s.recommendation_id))
            .group_by(s.model_version, s.scenario, f.kind)
        ).all()
    by_key: dict[tuple[str | None, str], dict[str, int]] = {}
    for version, scenario, kind, n in kinds:
        by_key.setdefault((version, scenario), {})[kind] = int(n)
    rows: list[dict[str, object]] = []
    for version, scenario, n in sorted(counts, key=lambda r: (str(r[0]), r[1])):
        got = by_key.get((version, scenario), {})
        shown, clicks = got.get("impression", 0), got.get("click", 0)
        rows.append(
            {
                "model_version": version,
                "scenario": scenario,
                "served": int(n),
                "impressions": shown,
                "clicks": clicks,
                "purchases": got.get("purchase", 0),
                "ctr": clicks / shown if shown else None,
            }
        )
    return rows


def ensure_tables(store: Store) -> None:
    """Create the served, feedback and experiments tables in `store` if they are missing
    (idempotent)."""
    metadata.create_all(store.engine, tables=[served, feedback, experiments])
