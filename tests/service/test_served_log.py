"""ServedLog: every answer's row is committed before the caller returns, concurrent answers
share a commit, and one bad row fails only its own caller."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from cartwise.data.feedback import FeedbackRecord, ServedLog, record_feedback, served
from cartwise.data.store import Store


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An empty store, on SQLite and on PostgreSQL."""
    s = Store.open(store_url)
    yield s
    s.close()


def _rows(store: Store) -> dict[str, Any]:
    """The served rows as another process sees them (a store of its own)."""
    other = Store.open(store.url)
    try:
        with other.engine.connect() as conn:
            return {r.recommendation_id: r for r in conn.execute(select(served))}
    finally:
        other.close()


def test_a_logged_answer_is_committed_on_return(store: Store) -> None:
    log = ServedLog(store)
    rec_id = log.log("user", "u1", "v1", ["p1", "p2"])
    assert len(rec_id) == 32 and int(rec_id, 16) >= 0
    row = _rows(store)[rec_id]
    assert (row.user_id, row.scenario, row.model_version, row.items) == (
        "u1",
        "user",
        "v1",
        ["p1", "p2"],
    )
    # feedback can name it at once
    stored = record_feedback(store, [FeedbackRecord(rec_id, "p2", "click")])
    assert (stored.stored, stored.implied_impressions) == (1, 1)
    assert log.log("user", "u1", "v1", ["p1", "p2"]) != rec_id  # every answer has its own id


class _Gated(ServedLog):
    """A ServedLog whose first commit waits until `expected` more rows are queued, so that
    they are written together, and which records each commit's size."""

    def __init__(self, store: Store, expected: int) -> None:
        super().__init__(store)
        self.expected = expected
        self.batches: list[int] = []
        self.gated = threading.Event()  # the first commit is waiting

    def _write(self, jobs: list[tuple[dict[str, Any], Any]]) -> None:
        if not self.batches:
            self.gated.set()
            while self._rows.qsize() < self.expected:
                threading.Event().wait(0.005)
        self.batches.append(len(jobs))
        super()._write(jobs)


def _log_in_threads(log: _Gated, scenarios: list[Any]) -> list[str | BaseException]:
    out: list[str | BaseException] = [""] * len(scenarios)

    def one(n: int) -> None:
        try:
            out[n] = log.log(scenarios[n], f"u{n}", "v1", [f"p{n}"])
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            out[n] = exc

    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(scenarios))]
    threads[0].start()
    assert log.gated.wait(timeout=30)
    for th in threads[1:]:
        th.start()
    for th in threads:
        th.join(timeout=30)
    return out


def test_concurrent_answers_are_committed_together(store: Store) -> None:
    log = _Gated(store, expected=9)
    ids = _log_in_threads(log, ["user"] * 10)
    assert all(isinstance(i, str) and len(i) == 32 for i in ids)
    assert len(set(ids)) == 10
    assert set(_rows(store)) == set(ids)
    assert log.batches[0] == 1 and log.batches[1] == 9 and sum(log.batches) == 10


def test_a_bad_row_fails_only_its_own_caller(store: Store) -> None:
    log = _Gated(store, expected=5)
    scenarios: list[Any] = ["user", "user", "user", None, "user", "user"]  # None: NOT NULL
    out = _log_in_threads(log, scenarios)
    assert isinstance(out[3], Exception)
    good = [o for n, o in enumerate(out) if n != 3]
    assert all(isinstance(o, str) for o in good)
    assert set(_rows(store)) == set(good)  # the others were committed
    assert log.log("user", "u9", "v1", ["p1"]) in _rows(store)  # and the writer carries on
