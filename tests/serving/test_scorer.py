"""The scoring thread: results, batching of concurrent callers, errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from cartwise.errors import ModelError
from cartwise.models.base import Query
from cartwise.serving.scorer import Scorer


def _occupy(scorer: Scorer) -> tuple[threading.Thread, threading.Event]:
    """Keep the scoring thread busy until the returned gate opens (returns once it is busy)."""
    busy, gate = threading.Event(), threading.Event()

    def hold() -> None:
        busy.set()
        gate.wait(30)

    blocker = threading.Thread(target=scorer.call, args=(hold,))
    blocker.start()
    assert busy.wait(30)
    return blocker, gate


def _wait_queued(scorer: Scorer, n: int) -> None:
    deadline = time.monotonic() + 30
    while scorer._jobs.qsize() < n:
        assert time.monotonic() < deadline, "jobs never queued"
        time.sleep(0.005)


class CountingModel:
    """Scores item i as len(history) * 10 + i; records each batch size and thread."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.threads: set[str] = set()

    def score_many(self, queries: Sequence[Query]) -> np.ndarray:
        self.batches.append(len(queries))
        self.threads.add(threading.current_thread().name)
        if any(q.history.size and q.history[0] < 0 for q in queries):
            raise ModelError("negative index")
        return np.array([[q.history.size * 10 + i for i in range(3)] for q in queries], float)


def test_scores_on_one_named_thread() -> None:
    model = CountingModel()
    scorer = Scorer()
    rows = scorer.score_many(model, [Query.of([1, 2]), Query.of([])])  # type: ignore[arg-type]
    assert rows.tolist() == [[20, 21, 22], [0, 1, 2]]
    assert scorer.score(model, Query.of([5])).tolist() == [10, 11, 12]  # type: ignore[arg-type]
    assert scorer.call(lambda: threading.current_thread().name) == "cartwise-scorer"
    assert model.threads == {"cartwise-scorer"}


def test_concurrent_callers_are_batched_into_one_call() -> None:
    model = CountingModel()
    scorer = Scorer()
    blocker, gate = _occupy(scorer)
    results: dict[int, Any] = {}

    def ask(n: int) -> None:
        results[n] = scorer.score_many(model, [Query.of([0] * n)])  # type: ignore[arg-type]

    askers = [threading.Thread(target=ask, args=(n,)) for n in (1, 2, 3)]
    for th in askers:
        th.start()
    _wait_queued(scorer, 3)
    gate.set()
    for th in [blocker, *askers]:
        th.join(timeout=10)
    assert model.batches == [3]
    assert {n: r.tolist() for n, r in results.items()} == {
        1: [[10, 11, 12]],
        2: [[20, 21, 22]],
        3: [[30, 31, 32]],
    }


def test_a_failing_query_fails_only_its_caller() -> None:
    model = CountingModel()
    scorer = Scorer()
    with pytest.raises(ModelError, match="negative index"):
        scorer.score_many(model, [Query.of([-1])])  # type: ignore[arg-type]
    with pytest.raises(ZeroDivisionError):
        scorer.call(lambda: 1 / 0)
    assert scorer.score_many(model, [Query.of([])]).tolist() == [[0, 1, 2]]  # type: ignore[arg-type]


def test_a_bad_query_in_a_batch_does_not_fail_the_others() -> None:
    model = CountingModel()
    scorer = Scorer()
    blocker, gate = _occupy(scorer)
    outcome: dict[str, Any] = {}

    def ask(name: str, history: list[int]) -> None:
        try:
            outcome[name] = scorer.score_many(model, [Query.of(history)]).tolist()  # type: ignore[arg-type]
        except ModelError as exc:
            outcome[name] = str(exc)

    good = threading.Thread(target=ask, args=("good", [4]))
    bad = threading.Thread(target=ask, args=("bad", [-1]))
    good.start()
    bad.start()
    _wait_queued(scorer, 2)
    gate.set()
    for th in (blocker, good, bad):
        th.join(timeout=10)
    assert outcome == {"good": [[10, 11, 12]], "bad": "negative index"}
    assert sorted(model.batches) == [1, 1, 2]  # the batch of two failed, then one by one
