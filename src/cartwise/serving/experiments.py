"""Experiment variants → model views: which context answers a request.

The running experiments are read from the store (again after ``ttl`` seconds, so an experiment
created or stopped from another process, e.g. the CLI, takes effect within it; at once after
:meth:`Routing.changed`). A request of a covered scenario with a unit id (the shopper's id, or
the anonymous session's) is assigned a variant by
:func:`cartwise.evaluation.online.assign_variant` (a pure function of the experiment's salt and
the id: the same shopper gets the same variant in every replica and after every restart). The
variant's context is the engine's with its own model view (a pinned
:class:`~cartwise.serving.active.ActiveModel`) and its own answer cache, so variants never
evict each other's answers; a variant without a model version shares the engine's active one.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from cartwise.data.experiments import Experiment, Variant, list_experiments
from cartwise.evaluation.online import assign_variant
from cartwise.lifecycle import Versions
from cartwise.serving.active import ActiveModel
from cartwise.serving.cache import AnswerCache
from cartwise.serving.context import Context

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Assignment:
    """The variant a request was routed to, and the context that answers it."""

    experiment: Experiment
    variant: Variant
    ctx: Context

    @property
    def key(self) -> tuple[str, str]:
        """(experiment id, variant name): what the served log records."""
        return self.experiment.id, self.variant.name

    def setting(self, name: str, default: Any) -> Any:
        """The variant's value of a ranking setting, else `default` (the request's)."""
        return self.variant.settings.get(name, default)


class Routing:
    """Running experiments and one context per variant.

    Args:
        ctx: the engine's context (variants without a model version use it as is).
        versions: the saved model versions.
        ttl: seconds between reads of the running experiments.
    """

    def __init__(self, ctx: Context, versions: Versions, ttl: float = 2.0) -> None:
        self.ctx = ctx
        self.versions = versions
        self.ttl = ttl
        self._lock = threading.Lock()
        self._read_at = -float("inf")
        self._running: list[Experiment] = []
        self._contexts: dict[tuple[str, str], Context] = {}

    def changed(self) -> None:
        """An experiment was created or stopped here: read them again on the next request."""
        self._read_at = -float("inf")

    def running(self) -> list[Experiment]:
        """The running experiments (read at most every ``ttl`` seconds)."""
        now = time.monotonic()
        if now - self._read_at >= self.ttl:
            with self._lock:
                if now - self._read_at >= self.ttl:
                    self._running = list_experiments(self.ctx.store, running_only=True)
                    self._read_at = now
                    keep = {(e.id, v.name) for e in self._running for v in e.variants}
                    self._contexts = {k: c for k, c in self._contexts.items() if k in keep}
        return self._running

    def assign(self, scenario: str, unit_id: str | None) -> Assignment | None:
        """The variant answering `unit_id` in `scenario`, or None (no running experiment covers
        the scenario, or no unit id: such a request is answered by the active version)."""
        if unit_id is None:
            return None
        for exp in self.running():
            if exp.covers(scenario):
                variant = exp.variants[assign_variant(exp.salt, unit_id, exp.weights)]
                return Assignment(exp, variant, self._context(exp, variant))
        return None

    def _context(self, exp: Experiment, variant: Variant) -> Context:
        if variant.model_version is None:
            return self.ctx
        key = (exp.id, variant.name)
        found = self._contexts.get(key)
        if found is None:
            with self._lock:
                found = self._contexts.get(key)
                if found is None:
                    pinned = ActiveModel(
                        self.versions,
                        self.ctx.active.warm_up,
                        pinned=variant.model_version,
                        ann=self.ctx.active.ann,
                    )
                    answers = AnswerCache(self.ctx.answers.capacity)
                    found = self._contexts[key] = replace(self.ctx, active=pinned, answers=answers)
        return found
