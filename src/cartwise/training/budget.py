"""A wall-clock budget for training: how many epochs fit, and when to stop.

The loop plans after every epoch: with the seconds recent epochs took (training, validation
and checkpoints), the epochs that still fit in what is left of the budget, so the learning-rate
schedule can span exactly the epochs the budget allows. Within an epoch it checks after every
batch that the validation still fits, and cuts the epoch short when it does not: training ends
before the budget runs out even when the machine slows down half-way.

The clock is injectable, so tests drive the budget with a fake clock instead of timing.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from cartwise.errors import ConfigError

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smh])")

#: Validation seconds assumed before the first validation ran: this share of the budget.
FIRST_VALIDATION_SHARE = 0.05
#: An epoch is assumed to take this much longer than the slowest of the recent ones.
MARGIN = 0.05


def parse_duration(value: str | float | int) -> float:
    """Seconds of a duration: ``"20m"`` → 1200, ``"90s"``, ``"1.5h"``, ``"1h30m"``; a bare
    number is seconds.

    Raises:
        ConfigError: not a positive duration.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            parts = _PART.findall(text)
            if not parts or _PART.sub("", text).strip():
                raise ConfigError(
                    f"time budget '{value}': expected a duration such as 20m, 90s, 1.5h or "
                    "1h30m (a bare number is seconds)"
                ) from None
            seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not seconds > 0 or not math.isfinite(seconds):
        raise ConfigError(f"time budget '{value}': must be a positive duration, e.g. 20m")
    return seconds


@dataclass
class Budget:
    """`seconds` of wall time from `started` (a `clock` reading).

    Attributes:
        seconds: the budget.
        clock: monotonic seconds (default :func:`time.monotonic`).
        started: when the budget began (default: when the object was made); a model passes
            the start of its fit, so data preparation counts too.
        validation_seconds: the longest validation so far (None before the first).
    """

    seconds: float
    clock: Callable[[], float] = time.monotonic
    started: float | None = None
    validation_seconds: float | None = None
    epoch_seconds: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.started is None:
            self.started = self.clock()

    def elapsed(self) -> float:
        """Seconds since the budget started."""
        assert self.started is not None
        return self.clock() - self.started

    def remaining(self) -> float:
        """Seconds left (negative once overrun)."""
        return self.seconds - self.elapsed()

    def reserve(self) -> float:
        """Seconds an epoch's validation needs: the longest measured, or before the first a
        :data:`FIRST_VALIDATION_SHARE` of the budget."""
        if self.validation_seconds is None:
            return FIRST_VALIDATION_SHARE * self.seconds
        return self.validation_seconds * (1.0 + MARGIN)

    def another_batch(self, batch_seconds: float, validates: bool) -> bool:
        """Whether one more batch (as long as the last one, plus a margin) still leaves time
        for the epoch's validation."""
        need = batch_seconds * (1.0 + MARGIN) + (self.reserve() if validates else 0.0)
        return self.remaining() > need

    def record(self, epoch_seconds: float, validation_seconds: float | None) -> None:
        """Note a finished epoch's seconds (all of it) and its validation's."""
        self.epoch_seconds.append(epoch_seconds)
        if validation_seconds is not None:
            self.validation_seconds = max(self.validation_seconds or 0.0, validation_seconds)

    def epochs_that_fit(self, done: int) -> int:
        """Epochs in all (`done` included) that fit: the ones done, plus what is left divided
        by the median of the last three epochs (plus a margin; one slow epoch is a passing
        neighbour, two in three the machine's new pace)."""
        if not self.epoch_seconds:
            return done
        recent: Sequence[float] = self.epoch_seconds[-3:]
        per_epoch = float(np.median(recent)) * (1.0 + MARGIN)
        return done + max(0, math.floor(self.remaining() / max(per_epoch, 1e-9)))
