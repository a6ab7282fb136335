"""Request counts and latency histograms per route, in the Prometheus text format.

The middleware labels each request by the route *template* (``/users/{user_id}/recommendations``,
not the concrete path), so the number of series stays bounded; requests that match no route are
counted under ``<unmatched>``.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cartwise.serving.cache import AnswerCache
from cartwise.serving.states import ScoreCache

#: Histogram bucket upper bounds, in seconds.
BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Thread-safe counters and histograms of the service's requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = {}
        self._latency: dict[tuple[str, str], _Histogram] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and its duration."""
        with self._lock:
            key = (method, route, str(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            hist = self._latency.setdefault((method, route), _Histogram())
            hist.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
            hist.total += seconds

    def render(
        self,
        model_version: str | None,
        ready: bool,
        answers: AnswerCache | None = None,
        states: ScoreCache | None = None,
    ) -> str:
        """The Prometheus exposition text (with the answer and score caches' counters when
        given)."""
        with self._lock:
            requests = sorted(self._requests.items())
            latency = [(k, _Histogram(list(h.counts), h.total)) for k, h in self._latency.items()]
        latency.sort(key=lambda pair: pair[0])
        lines = [
            "# HELP cartwise_http_requests_total HTTP requests by method, route and status.",
            "# TYPE cartwise_http_requests_total counter",
        ]
        for (method, route, status), n in requests:
            lines.append(
                f'cartwise_http_requests_total{{method="{method}",route="{_label(route)}",'
                f'status="{status}"}} {n}'
            )
        lines += [
            "# HELP cartwise_http_request_duration_seconds Time to answer, by method and route.",
            "# TYPE cartwise_http_request_duration_seconds histogram",
        ]
        for (method, route), hist in latency:
            lines.extend(_histogram_lines(method, route, hist))
        lines += [
            "# HELP cartwise_model_info The active model version (always 1).",
            "# TYPE cartwise_model_info gauge",
        ]
        if model_version is not None:
            lines.append(f'cartwise_model_info{{version="{_label(model_version)}"}} 1')
        lines += [
            "# HELP cartwise_model_ready Whether the active model is loaded and serving.",
            "# TYPE cartwise_model_ready gauge",
            f"cartwise_model_ready {1 if ready else 0}",
        ]
        if answers is not None:
            lines += [
                "# HELP cartwise_answer_cache_lookups_total Answer cache lookups of this process:"
                " hit, miss, or stale (kept, but a row it depends on changed).",
                "# TYPE cartwise_answer_cache_lookups_total counter",
                f'cartwise_answer_cache_lookups_total{{result="hit"}} {answers.hits}',
                f'cartwise_answer_cache_lookups_total{{result="miss"}} {answers.misses}',
                f'cartwise_answer_cache_lookups_total{{result="stale"}} {answers.stale}',
                "# HELP cartwise_answer_cache_entries Answers kept by this process.",
                "# TYPE cartwise_answer_cache_entries gauge",
                f"cartwise_answer_cache_entries {len(answers)}",
            ]
        if states is not None:
            lines += [
                "# HELP cartwise_score_cache_rows_total Model score rows of this process: hit "
                "(a history scored before), miss (computed).",
                "# TYPE cartwise_score_cache_rows_total counter",
                f'cartwise_score_cache_rows_total{{result="hit"}} {states.hits}',
                f'cartwise_score_cache_rows_total{{result="miss"}} {states.misses}',
            ]
        return "\n".join(lines) + "\n"


def _histogram_lines(method: str, route: str, hist: _Histogram) -> Iterable[str]:
    name = "cartwise_http_request_duration_seconds"
    labels = f'method="{method}",route="{_label(route)}"'
    running = 0
    for bound, n in zip([*map(str, BUCKETS), "+Inf"], hist.counts, strict=True):
        running += n
        yield f'{name}_bucket{{{labels},le="{bound}"}} {running}'
    yield f"{name}_sum{{{labels}}} {hist.total:.6f}"
    yield f"{name}_count{{{labels}}} {running}"


class MetricsMiddleware:
    """ASGI middleware feeding :class:`Metrics` (pure ASGI: no per-request task overhead)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            route = getattr(scope.get("route"), "path", None) or "<unmatched>"
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)
