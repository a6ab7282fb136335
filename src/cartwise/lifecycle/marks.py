"""Which versions contain shoppers deleted after they were trained.

Deleting a shopper removes their events from the store, so every version trained afterwards
leaves them out by construction. Versions trained before still carry what they learnt from
them: :meth:`cartwise.lifecycle.Versions.note_deletion` marks each saved version with a file
``DELETED_SHOPPERS.json`` in its folder (how many shoppers, first and last deletion time; no
ids: the mark holds no personal data) and logs the deletion time in the model folder
(``deletions.json``), so a version whose training read the store before a deletion but is saved
after it is marked as well (:func:`mark_if_deleted_since`).

The caller holds the folder lock (:func:`cartwise.lifecycle.files.folder_lock`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cartwise.lifecycle.storage import Folder

MARK_FILE = "DELETED_SHOPPERS.json"
LOG_FILE = "deletions.json"
_MAX_LOG = 100_000


def log_deletion(folder: Folder, at: float) -> None:
    """Append a deletion time to the folder's log (the newest times are kept)."""
    times = _times(folder)
    times.append(at)
    folder.write_text(LOG_FILE, json.dumps({"times": times[-_MAX_LOG:]}, indent=2))


def add(folder: Folder, version: str, times: list[float]) -> None:
    """Count the deletions at `times` in the mark of `version`."""
    if not times:
        return
    mark = read_mark(folder, version) or {"shoppers": 0}
    first = min([*times, *([mark["first_unix"]] if "first_unix" in mark else [])])
    last = max([*times, *([mark["last_unix"]] if "last_unix" in mark else [])])
    mark = {"shoppers": int(mark["shoppers"]) + len(times), "first_unix": first, "last_unix": last,
            "first": _iso(first), "last": _iso(last)}  # fmt: skip
    folder.write_text(f"{version}/{MARK_FILE}", json.dumps(mark, indent=2))


def mark_if_deleted_since(folder: Folder, version: str, snapshot_at: float | None) -> None:
    """Mark `version` with the deletions logged at or after `snapshot_at` (when its training
    read the store): its snapshot may hold those shoppers."""
    if snapshot_at is None:
        return
    add(folder, version, [t for t in _times(folder) if t >= float(snapshot_at)])


def read_mark(folder: Folder, version: str) -> dict[str, Any] | None:
    """The version's mark, None when no shopper was deleted after its training."""
    found = _json(folder, f"{version}/{MARK_FILE}")
    return found if isinstance(found, dict) and found.get("shoppers") else None


def _json(folder: Folder, rel: str) -> Any:
    text = folder.read_text(rel)
    return None if text is None else json.loads(text)


def _times(folder: Folder) -> list[float]:
    found = _json(folder, LOG_FILE) or {}
    times = found.get("times", []) if isinstance(found, dict) else []
    return [float(t) for t in times if isinstance(t, int | float)]


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat()
