"""The serving process's retrain timer: ``cartwise serve --retrain-every 6h``.

A daemon thread of the serving process (the parent process, not a request handler) starts
``cartwise retrain`` as a subprocess every `every` seconds — the command it is given says
``--if-new-events N``, so nothing is trained when too little arrived — and promptly (within
`poll` seconds) when the active version contains shoppers deleted after its training (the
command then says ``--exclude-deleted``). One retrain runs at a time. Servers pick up the
version a retrain activates on their next request (the ACTIVE file changed) while the others
keep answering with the version they hold, so no request fails or waits for a retrain.
"""

from __future__ import annotations

import logging
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping

from cartwise.errors import ConfigError
from cartwise.lifecycle.versions import Versions

_log = logging.getLogger(__name__)

SCHEDULED = "scheduled"
DELETED = "deleted shoppers"
REFUSED_EXIT = 3  # `cartwise train`/`retrain`: trained and saved, the gate refused it
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(text: str) -> float:
    """``"90s"``, ``"30m"``, ``"6h"``, ``"1d"``, ``"1.5h"`` or plain seconds → seconds."""
    found = _DURATION.match(text.lower())
    if found is None or float(found.group(1)) <= 0:
        raise ConfigError(f"'{text}' is not a duration: write e.g. 90s, 30m, 6h or 1d")
    return float(found.group(1)) * _UNITS[found.group(2) or "s"]


class RetrainScheduler:
    """Starts retrains in a subprocess on schedule and when deleted shoppers are served.

    Args:
        versions: the model folder the servers serve from.
        command: the argv of the retrain for a reason (:data:`SCHEDULED` or :data:`DELETED`).
        every: seconds between scheduled retrains (the first comes `every` after start).
        poll: seconds between checks for deleted shoppers (default: a minute, or `every`).
        env: the subprocess's environment (default: this process's).
    """

    def __init__(
        self,
        versions: Versions,
        command: Callable[[str], list[str]],
        every: float,
        *,
        poll: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.versions = versions
        self.command = command
        self.every = every
        self.poll = poll if poll is not None else min(60.0, every)
        self.env = dict(env) if env is not None else None
        self.runs: list[tuple[str, int]] = []  # (reason, exit code) of finished retrains
        self._next = time.monotonic() + every
        self._tried: tuple[str, object] | None = None
        self._stop = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._loop, name="cartwise-retrain", daemon=True)

    def start(self) -> None:
        """Start the timer thread."""
        self._thread.start()
        _log.info("retraining every %.0f s (checks for deleted shoppers every %.0f s)",
                  self.every, self.poll)  # fmt: skip

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the timer; a retrain in progress is terminated (its version is not saved)."""
        self._stop.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.terminate()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def due(self, now: float) -> str | None:
        """Why a retrain should start at monotonic time `now` (None: not yet)."""
        active = self.versions.active()
        mark = self.versions.deletion_mark(active) if active is not None else None
        if active is not None and mark is not None and self._tried != (active, mark):
            self._tried = (active, mark)  # once per mark: a failed retrain is not looped
            return DELETED
        if now >= self._next:
            self._next = now + self.every
            return SCHEDULED
        return None

    def run(self, reason: str) -> int:
        """Run the retrain for `reason` and wait for it; returns its exit code."""
        argv = self.command(reason)
        _log.info("starting a %s retrain: %s", reason, " ".join(argv))
        self._child = subprocess.Popen(argv, env=self.env)
        code = self._child.wait()
        self._child = None
        self.runs.append((reason, code))
        outcome = {0: "done", REFUSED_EXIT: "refused by the activation gate"}.get(code, "failed")
        log = _log.info if code in (0, REFUSED_EXIT) else _log.warning
        log("%s retrain %s (exit code %d)", reason, outcome, code)
        return code

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                reason = self.due(time.monotonic())
                if reason is not None and not self._stop.is_set():
                    self.run(reason)
            except Exception:  # the timer must outlive one bad check or start
                _log.exception("retrain scheduler: check failed; trying again in %.0f s",
                               self.poll)  # fmt: skip
