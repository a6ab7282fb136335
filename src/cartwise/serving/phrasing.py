"""Explanations phrased by a language model off the request thread, within a latency budget.

A request that asks for explanations hands each item's evidence to the :class:`Phraser`. A
sentence phrased before (same model version, same shopper history, same item) comes from its
cache at once. Otherwise the evidence goes to one background thread that runs the generator
(local SmolLM2 or an OpenAI-compatible endpoint, through :class:`~cartwise.ranking.explain.
Explainer`, which blocks any sentence naming something outside the evidence); the request waits
for it only until its budget runs out, then answers with the template sentence. The phrased
sentence lands in the cache and is shown on the next request.

One worker: a small CPU model phrases one sentence at a time faster than several would, and a
burst of requests must not take the machine from the scorer.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from cartwise.ranking.explain import Evidence, Explainer, Explanation, template

_log = logging.getLogger(__name__)

#: Phrased explanations kept.
DEFAULT_CAPACITY = 20_000


@dataclass
class PhraseStats:
    """What the phraser did since it was made.

    Attributes:
        phrased: sentences the generator wrote that passed the grounding check.
        blocked: sentences the check refused (or generator failures): the template was kept.
        cached: answers served from the cache.
        late: answers that missed the request's budget (the template was shown meanwhile).
        seconds: generator time in all (phrased and blocked).
    """

    phrased: int = 0
    blocked: int = 0
    cached: int = 0
    late: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Job:
    key: Hashable
    title: str
    brand: str | None
    evidence: tuple[Evidence, ...]
    user_ids: tuple[str, ...]
    known_names: Sequence[str] | None
    done: Future[Explanation] = field(default_factory=Future)


class Phraser:
    """Phrases explanations in the background; answers within a budget.

    Args:
        explainer: the explainer with its generator (and the catalog's names for the check).
        capacity: most explanations kept.
    """

    def __init__(self, explainer: Explainer, capacity: int = DEFAULT_CAPACITY) -> None:
        self.explainer = explainer
        self.capacity = capacity
        self.stats = PhraseStats()
        self._done: OrderedDict[Hashable, Explanation] = OrderedDict()
        self._pending: dict[Hashable, Future[Explanation]] = {}
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def explain_many(
        self,
        keys: Sequence[Hashable],
        items: Sequence[tuple[str, str | None, Sequence[Evidence]]],
        *,
        budget: float,
        user_ids: Sequence[str] = (),
        known_names: Sequence[str] | None = None,
    ) -> list[Explanation]:
        """One explanation per (title, brand, evidence) of `items`, keyed by `keys`: phrased
        ones from the cache or finished within `budget` seconds (for all of them together),
        the template sentence for the others (their phrasing goes on in the background)."""
        if self.explainer.generator is None:  # templates only: nothing to wait for
            return [self.explainer.explain(t, b, ev) for t, b, ev in items]
        deadline = time.monotonic() + budget
        futures = [
            self._submit(_Job(key, title, brand, tuple(ev), tuple(user_ids), known_names))
            for key, (title, brand, ev) in zip(keys, items, strict=True)
        ]
        out = []
        for future, (title, brand, ev) in zip(futures, items, strict=True):
            try:
                out.append(future.result(timeout=max(0.0, deadline - time.monotonic())))
            except TimeoutError:
                self.stats.late += 1
                out.append(Explanation(title, brand, tuple(ev), template(ev), "template"))
        return out

    def _submit(self, job: _Job) -> Future[Explanation]:
        with self._lock:
            kept = self._done.get(job.key)
            if kept is not None:
                self._done.move_to_end(job.key)
                self.stats.cached += 1
                done: Future[Explanation] = Future()
                done.set_result(kept)
                return done
            pending = self._pending.get(job.key)
            if pending is not None:
                return pending
            self._pending[job.key] = job.done
        self._ensure_started()
        self._jobs.put(job)
        return job.done

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cartwise-phraser",
                                                daemon=True)  # fmt: skip
                self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            began = time.perf_counter()
            try:
                found = self.explainer.explain(job.title, job.brand, job.evidence,
                                               user_ids=job.user_ids,
                                               known_names=job.known_names)  # fmt: skip
            except Exception as exc:  # never lose the worker: the request gets the template
                _log.exception("phrasing failed")
                found = Explanation(job.title, job.brand, job.evidence, template(job.evidence),
                                    "template", blocked=f"phrasing failed: {exc}")  # fmt: skip
            self._record(job, found, time.perf_counter() - began)

    def _record(self, job: _Job, found: Explanation, seconds: float) -> None:
        with self._lock:
            self.stats.seconds += seconds
            if found.source == "generator":
                self.stats.phrased += 1
            else:
                self.stats.blocked += 1
                if found.blocked and len(self.stats.problems) < 100:
                    self.stats.problems.append(found.blocked)
            self._pending.pop(job.key, None)
            self._done[job.key] = found
            while len(self._done) > self.capacity:
                self._done.popitem(last=False)
        job.done.set_result(found)
