"""When a failed request is tried again, and how long the client waits before it does.

A request that never reached the service (connection refused, no connection from the pool in
time) is always safe to repeat. One that may have reached it (a timeout while waiting for the
answer, a dropped connection) is repeated only when its route is idempotent: reads, upserts by
id, events (stored once per ``event_id``) and feedback (stored once per recommendation, item and
kind). Answers worth another try are 429, 502, 504 and a 503 that is not permanent (a 503
because no model is trained stays one until someone trains one).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from cartwise.client.call import Call
from cartwise.client.errors import ApiError, connection_error, error_from_response

_log = logging.getLogger(__name__)

T = TypeVar("T")

#: Transport failures that happen before any byte of the request is sent.
UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Answers that say "try again later".
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: 503s that another try will not change.
PERMANENT_503 = frozenset({"ModelError", "NotFittedError", "ResourceError"})


@dataclass(frozen=True)
class Wait:
    """Try again after `seconds`."""

    seconds: float


@dataclass(frozen=True)
class RetryPolicy:
    """How many tries a call gets and the waits between them.

    Attributes:
        attempts: tries in all, the first included (1: never retry).
        backoff: seconds before the first retry; doubled for each further one.
        max_backoff: the longest wait, also the cap on a ``Retry-After`` the service sends.
        jitter: wait a random 50–100% of the computed time, so that many clients that failed
            together do not retry together.
    """

    attempts: int = 3
    backoff: float = 0.2
    max_backoff: float = 5.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff < 0 or self.max_backoff < 0:
            raise ValueError(
                f"RetryPolicy(attempts={self.attempts}, backoff={self.backoff}, max_backoff="
                f"{self.max_backoff}): attempts must be at least 1 and the waits not negative"
            )

    def settle(
        self, call: Call[T], tries: int, outcome: httpx.Response | httpx.TransportError
    ) -> T | Wait:
        """What try number `tries` of `call` came to: its answer read into the route's model,
        or how long to wait before the next try.

        Raises:
            ApiError: the service answered with an error not worth another try (the subclass
                for its status), or the call got no answer and may not be tried again
                (:class:`~.errors.ApiConnectionError`).
        """
        if isinstance(outcome, httpx.TransportError):
            if not self.after_failure(call, outcome, tries):
                raise connection_error(outcome, tries) from outcome
            wait, why = self.delay(tries), f"{type(outcome).__name__}: {outcome}"
        elif outcome.status_code in call.ok:
            return call.read(outcome)
        else:
            error = error_from_response(outcome)
            if not self.after_answer(call, error, tries):
                raise error
            wait, why = self.delay(tries, outcome.headers.get("retry-after")), str(error)
        _log.info("%s %s: %s; try %d in %.2f s", call.route.method, call.path, why, tries + 1, wait)
        return Wait(wait)

    def after_failure(self, call: Call[Any], exc: httpx.TransportError, tries: int) -> bool:
        """Whether to try `call` again after `tries` tries, the last of which got no answer."""
        if tries >= self.attempts:
            return False
        return isinstance(exc, UNSENT) or call.route.idempotent

    def after_answer(self, call: Call[Any], error: ApiError, tries: int) -> bool:
        """Whether to try `call` again after `tries` tries, the last answered with `error`."""
        if tries >= self.attempts or error.status not in RETRY_STATUSES:
            return False
        if error.status == 503 and error.type in PERMANENT_503:
            return False
        return call.route.idempotent

    def delay(self, tries: int, retry_after: str | None = None) -> float:
        """Seconds to wait after `tries` tries: the service's ``Retry-After`` when it sent one,
        else ``backoff * 2 ** (tries - 1)``; never more than `max_backoff`."""
        asked = _seconds(retry_after)
        if asked is not None:
            return min(asked, self.max_backoff)
        wait: float = min(self.backoff * 2.0 ** (tries - 1), self.max_backoff)
        return wait * random.uniform(0.5, 1.0) if self.jitter else wait


def _seconds(retry_after: str | None) -> float | None:
    """A ``Retry-After`` value (seconds or an HTTP date) in seconds from now."""
    if not retry_after:
        return None
    value = retry_after.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
