"""Shared helper for benchmark scripts: write one result file in the common envelope.

The envelope (see ``BENCHMARKS.md``) is the same for every benchmark: benchmark, dataset, model,
config, metrics, train_seconds, peak_rss_mb, cores, command, git_commit, finished_at. Only
``metrics`` differs between benchmarks (quality: ``{"valid": {...}, "test": {...}}``; speed:
``{"events_per_s": ...}``). ``benchmarks/table.py`` renders the README tables from these files.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import shlex
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# before any script imports torch: see cartwise/__init__.py (OpenMP threads sleep, not spin)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@functools.cache
def git_commit() -> str:
    """HEAD commit, with ``+dirty`` when the working tree has uncommitted changes.

    Taken once per process (the first call, :func:`require_committed` at the start of a run):
    the code that ran is the code of that moment, whatever is edited while it runs.
    """

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=30
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def require_committed() -> str:
    """The commit a result will be attributed to; exits if the working tree is not committed.

    Result files under ``benchmarks/results`` come from committed code only (BENCHMARKS.md):
    call this first thing in a benchmark, so an uncommitted tree stops the run before it
    spends any time. Trial runs that write elsewhere (``folder=``) are not checked.
    """
    commit = git_commit()
    if commit.endswith("+dirty"):
        sys.exit(
            f"the working tree has uncommitted changes ({commit}); result files come from "
            "committed code only: commit first, then run (or write a trial elsewhere)"
        )
    return commit


def this_command() -> str:
    """The command line that runs this script, relative to the repository root."""
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    return shlex.join(["python", str(shown), *sys.argv[1:]])


def run_each(commands: Mapping[str, list[str]]) -> int:
    """Run one subprocess per named command (one model per process: peak memory is that model's
    own); print the names that failed and return a process exit status."""
    failed = [name for name, cmd in commands.items() if subprocess.run(cmd, check=False).returncode]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def write_result(
    benchmark: str,
    dataset: str,
    model: str,
    metrics: Mapping[str, Any],
    *,
    config: Mapping[str, Any] | None = None,
    seconds: float = 0.0,
    command: str | None = None,
    name: str | None = None,
    folder: Path | None = None,
) -> Path:
    """Write ``benchmarks/results/<name>.json`` in the common envelope and return its path.

    Args:
        benchmark: e.g. "quality", "ingest", "serving".
        dataset: dataset label (e.g. "ml-1m", "synthetic-1m").
        model: model or component measured (e.g. "sasrec", "sqlite").
        metrics: the figures; floats and ints (nested dicts for quality's valid/test).
        config: settings that produced the figures.
        seconds: wall time of the measured work (``train_seconds`` in the envelope).
        command: the command line that reproduces the run (default: this process's).
        name: file name without ``.json`` (default ``<benchmark>-<dataset>-<model>``).
        folder: where to write instead of ``benchmarks/results`` (e.g. for trial runs).
    """
    commit = git_commit() if folder is not None else require_committed()
    record = {
        "benchmark": benchmark,
        "dataset": dataset,
        "model": model,
        "config": dict(config or {}),
        "metrics": dict(metrics),
        "train_seconds": round(float(seconds), 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "cores": cores(),
        # 1-, 5- and 15-minute load averages when the file was written: a run on a busy machine
        # (load well above `cores`) is visible as such; timing figures from it are not idle ones.
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "command": command or this_command(),
        "git_commit": commit,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    folder = folder or RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name or f'{benchmark}-{dataset}-{model}'}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)
    return path
