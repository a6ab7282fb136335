"""Model scoring on one dedicated thread, with concurrent requests batched together.

Why a thread of its own: torch keeps an OpenMP thread team per calling thread, so scoring from
the web server's many worker threads makes teams compete for the cores (measured here: SASRec
answers took 10-100× longer than the same scoring from one thread). One scoring thread keeps
one team, and while it works, requests that arrive queue up and are scored in a single
``score_many`` call (one forward pass for many shoppers).

The scoring thread computes with one thread (torch intra-op and BLAS) by default: a request's
forward pass is far too small to gain from splitting, and on a busy machine a team of threads
waits for its slowest member (measured on 2 cores under load: SASRec scoring 10-20× slower with
two threads than with one).

Rows of histories scored before come from a :class:`~cartwise.serving.states.ScoreCache`
(per loaded model, keyed by the query itself): the single-item and empty histories every
request needs for its reasons and tie-break, and a shopper's history until they act again, are
computed once (measured in-process on the demo store: scoring 1.6 → 0.9 ms per answer from the
shared rows alone).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

from cartwise.models.base import Query, Recommender
from cartwise.serving.states import DEFAULT_BYTES, ScoreCache

_log = logging.getLogger(__name__)

#: Most histories scored in one call.
MAX_BATCH = 256

T = TypeVar("T")


@dataclass
class _Job:
    model: Recommender | None
    queries: list[Query]
    done: Future[Any]
    call: Callable[[], Any] | None = None


class Scorer:
    """Runs ``model.score_many`` for every caller on one background thread.

    Args:
        max_batch: most histories scored in one call.
        threads: compute threads of the scoring thread (torch and BLAS; None: leave them).
    """

    def __init__(
        self, max_batch: int = MAX_BATCH, threads: int | None = 1, cache_bytes: int = DEFAULT_BYTES
    ) -> None:
        self.max_batch = max_batch
        self.threads = threads
        self.states = ScoreCache(cache_bytes)
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def score_many(self, model: Recommender, queries: Sequence[Query]) -> np.ndarray:
        """``model.score_many(queries)`` (a new array): rows scored before come from the score
        cache, the others are computed on the scoring thread."""
        return self.states.score_many(model, queries, lambda todo: self._compute(model, todo))

    def _compute(self, model: Recommender, queries: Sequence[Query]) -> np.ndarray:
        if threading.current_thread() is self._thread:  # re-entrant use: no deadlock
            return model.score_many(queries)
        job = _Job(model, list(queries), Future())
        self._ensure_started()
        self._jobs.put(job)
        rows: np.ndarray = job.done.result()
        return rows

    def call(self, fn: Callable[[], T]) -> T:
        """Run any model computation (e.g. ``similar_items``) on the scoring thread."""
        if threading.current_thread() is self._thread:
            return fn()
        job = _Job(None, [], Future(), fn)
        self._ensure_started()
        self._jobs.put(job)
        result: T = job.done.result()
        return result

    def score(self, model: Recommender, query: Query) -> np.ndarray:
        """``model.score(query)``, computed on the scoring thread."""
        row: np.ndarray = self.score_many(model, [query])[0]
        return row

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="cartwise-scorer", daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        if self.threads is not None:
            _limit_threads(self.threads)
        while True:
            jobs = [self._jobs.get()]
            size = len(jobs[0].queries)
            while size < self.max_batch:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                jobs.append(job)
                size += len(job.queries)
            for group in _by_model(jobs):
                if group[0].call is not None:
                    _call(group[0])
                else:
                    _score_together(group)


def _limit_threads(threads: int) -> None:
    """Compute with `threads` threads from this thread: torch's count is per calling thread
    (and the default of threads started later); BLAS pools are process-wide."""
    import torch

    torch.set_num_threads(threads)
    threadpool_limits(threads, user_api="blas")


def _by_model(jobs: list[_Job]) -> list[list[_Job]]:
    groups: dict[int, list[_Job]] = {}
    calls: list[list[_Job]] = []
    for job in jobs:
        if job.call is not None:
            calls.append([job])
        else:
            groups.setdefault(id(job.model), []).append(job)
    return [*groups.values(), *calls]


def _call(job: _Job) -> None:
    assert job.call is not None
    try:
        job.done.set_result(job.call())
    except BaseException as exc:
        job.done.set_exception(exc)


def _score_together(jobs: list[_Job]) -> None:
    model = jobs[0].model
    assert model is not None
    try:
        rows = model.score_many([q for job in jobs for q in job.queries])
    except BaseException as exc:  # each caller gets the error in its own thread
        if len(jobs) == 1:
            jobs[0].done.set_exception(exc)
            return
        for job in jobs:  # score separately so one bad query does not fail the others
            _score_together([job])
        return
    start = 0
    for job in jobs:
        job.done.set_result(rows[start : start + len(job.queries)])
        start += len(job.queries)
