"""Background jobs in a subprocess, one at a time, with their output in a folder.

The store evaluation report (``POST /reports``) takes minutes: a request starts it here and
returns at once; ``GET /reports/latest`` serves the newest finished report. Each job has a
folder ``<root>/<UTC time>/`` holding ``job.json`` (what runs, its process id), ``log.txt``
(its output), ``exit.json`` (its exit code, once it ended) and what the job writes there.
A job is running while it has no exit.json and its process lives; a process that ended
without an exit.json (the server that waited for it stopped) is reported as failed.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cartwise.lifecycle.files import folder_lock, read_json, write_json
from cartwise.lifecycle.recipe import recipe
from cartwise.lifecycle.versions import Versions

_log = logging.getLogger(__name__)

REPORT = "report.html"
JobState = Literal["running", "done", "failed"]
_TAIL = 2000


@dataclass(frozen=True)
class Job:
    """A job's state.

    Attributes:
        id: the job's folder name (its start time).
        state: ``running``, ``done`` (exit code 0) or ``failed``.
        folder: where its files are.
        started: start time (ISO).
        finished: end time (ISO), None while running.
        exit_code: None while running (or when the process vanished).
        about: what the job was started for (e.g. the version evaluated).
        log_tail: the end of its output.
    """

    id: str
    state: JobState
    folder: Path
    started: str
    finished: str | None
    exit_code: int | None
    about: dict[str, Any]
    log_tail: str


class Jobs:
    """The jobs kept in one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def start(
        self,
        argv: Callable[[Path], list[str]],
        *,
        about: dict[str, Any],
        env: Mapping[str, str] | None = None,
    ) -> tuple[Job, bool]:
        """Start ``argv(folder)`` unless a job is running; returns (the job, whether it is
        new). A thread of this process waits for it and records its exit code."""
        with folder_lock(self.root):
            current = self.latest()
            if current is not None and current.state == "running":
                return current, False
            folder = self.root / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            folder.mkdir(parents=True)
            with (folder / "log.txt").open("wb") as log:
                child = subprocess.Popen(
                    argv(folder), env=dict(env) if env is not None else None,
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                )  # fmt: skip
            write_json(folder / "job.json", {"pid": child.pid, "about": about,
                                             "started": datetime.now(UTC).isoformat()})  # fmt: skip
        threading.Thread(target=_wait, args=(child, folder), daemon=True).start()
        _log.info("started job %s (pid %d): %s", folder.name, child.pid, about)
        return self.read(folder), True

    def latest(self) -> Job | None:
        """The newest job, None when none was started."""
        if not self.root.is_dir():
            return None
        found = sorted(p for p in self.root.iterdir() if (p / "job.json").is_file())
        return self.read(found[-1]) if found else None

    def latest_output(self, name: str) -> tuple[Job, Path] | None:
        """The newest finished job that wrote `name`, and that file."""
        if not self.root.is_dir():
            return None
        for folder in sorted(self.root.iterdir(), reverse=True):
            if (folder / name).is_file() and (folder / "exit.json").is_file():
                return self.read(folder), folder / name
        return None

    def read(self, folder: Path) -> Job:
        """The job in `folder`."""
        job = read_json(folder / "job.json", {})
        ended = read_json(folder / "exit.json")
        code = ended.get("exit_code") if isinstance(ended, dict) else None
        state: JobState
        if isinstance(ended, dict):
            state = "done" if code == 0 else "failed"
        else:
            state = "running" if _alive(int(job.get("pid", 0))) else "failed"
        log = folder / "log.txt"
        tail = log.read_bytes()[-_TAIL:].decode(errors="replace") if log.is_file() else ""
        return Job(folder.name, state, folder, str(job.get("started", "")),
                   ended.get("finished") if isinstance(ended, dict) else None, code,
                   dict(job.get("about", {})), tail)  # fmt: skip


def _wait(child: subprocess.Popen[bytes], folder: Path) -> None:
    code = child.wait()
    write_json(folder / "exit.json", {"exit_code": code, "finished": datetime.now(UTC).isoformat()})
    _log.info("job %s ended with exit code %d", folder.name, code)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process took the number
        return False
    return True


def report_argv(versions: Versions, version: str) -> Callable[[Path], list[str]]:
    """The ``cartwise evaluate --store`` command of the store report for `version`: its model
    with its settings (untuned: the report is about this configuration) and the popularity
    baseline, on the temporal split of the store's events (the store from the environment)."""
    how = recipe(versions, version)
    models = list(dict.fromkeys(["popularity", how.model]))
    sets = [f"--set={how.model}.{k}={json.dumps(v)}" for k, v in how.settings.items()]
    base = [sys.executable, "-m", "cartwise", "evaluate", "--store", "--models", ",".join(models),
            "--no-tune", "--format", "html,md", "--seed", str(how.seed), *sets]  # fmt: skip
    return lambda folder: [*base, "--out", str(folder)]
