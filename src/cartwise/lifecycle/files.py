"""Small files shared by processes: atomic replacement and one lock per model folder.

Every file in the model folder is written under a temporary name and renamed over the old one
(:func:`write_atomic`), so a reader sees the old content or the new, never a half-written file.
Changes that read and then write (activation, the history, pruning, the deletion marks) hold
the folder's lock file (:func:`folder_lock`), so two processes cannot interleave them.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LOCK_FILE = ".lock"


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` in one rename (flushed to disk first)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with tmp.open("w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, value: Any) -> None:
    """:func:`write_atomic` of `value` as indented JSON (dates and paths as strings)."""
    write_atomic(path, json.dumps(value, indent=2, default=str))


def read_json(path: Path, default: Any = None) -> Any:
    """The JSON in `path`, or `default` when the file does not exist."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


@contextmanager
def folder_lock(root: Path) -> Iterator[None]:
    """Hold the exclusive lock of the model folder `root` (created if missing); blocks while
    another process or thread holds it."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / LOCK_FILE).open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
