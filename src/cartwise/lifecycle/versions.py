"""Model versions on disk: save, list, activate, roll back, prune.

A version is a model directory ``model_dir/<name>-<UTC time>/`` (see :mod:`cartwise.models.base`)
plus ``metrics.json`` (training facts, validation metrics, the activation gate's decision). The
file ``model_dir/ACTIVE`` names the version recommendations come from; ``ACTIVE.history.json``
beside it keeps the versions that were active before (what :meth:`Versions.rollback` returns
to) and a log of activations. Files are replaced atomically and every read-then-write change
holds the folder's lock (:mod:`cartwise.lifecycle.files`), so processes sharing the folder —
servers, a retrain, an operator's command — never see a half-written version or lose an
activation.

The folder may also be an fsspec URL shared by machines (``s3://bucket/models``,
``file:///shared/models``; :mod:`cartwise.lifecycle.storage`): the same files, uploaded so a
version is listed only once whole, downloaded once per machine into a local cache to load.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Hashable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cartwise.errors import ConfigError, DataError, ModelError, NotFoundError
from cartwise.lifecycle import marks
from cartwise.lifecycle.files import write_json
from cartwise.lifecycle.storage import CONFIG, Folder, is_url, open_folder
from cartwise.models.base import FORMAT_VERSION, Recommender
from cartwise.models.registry import load as load_model

_log = logging.getLogger(__name__)

ACTIVE_FILE = "ACTIVE"
HISTORY_FILE = "ACTIVE.history.json"
_MAX_STACK = 100
_MAX_LOG = 500
Names = list[str]  # (the class below has a method named `list`)
Log = list[dict[str, Any]]


class Versions:
    """The saved model versions in one folder.

    Args:
        root: a folder path, or an fsspec URL (``s3://bucket/models``, ``file:///shared``).
        cache: for a URL, the local folder downloaded versions are kept in (default
            ``var/model-cache``).

    Attributes:
        where: the folder or URL, as given (for messages and child processes).
        root: the local folder: the folder itself, or for a URL the cache of downloads (report
            jobs and other machine-local files live under it).
        remote: whether `root` was a URL.
    """

    def __init__(self, root: Path | str, *, cache: Path | None = None) -> None:
        self.folder: Folder = open_folder(root, cache)
        self.remote = is_url(root)
        self.where = self.folder.where
        self.root = self.folder.local_root

    # -- saving and reading ------------------------------------------------------------------
    def save(self, model: Recommender, info: dict[str, Any]) -> str:
        """Save `model` as a new version (not yet active); returns its name.

        When ``info["snapshot_at"]`` (epoch seconds the store was read) precedes a shopper's
        deletion, the version is marked as containing deleted shoppers (:mod:`.marks`).
        """
        version = f"{model.name}-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
        tmp = self.folder.staging(version)
        try:
            model.save(tmp)
            write_json(tmp / "metrics.json", info)
            with self.folder.lock():
                self.folder.publish(tmp, version)
                marks.mark_if_deleted_since(self.folder, version, info.get("snapshot_at"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return version

    def list(self) -> Names:
        """Version names, oldest first."""
        return sorted(self.folder.versions(), key=lambda v: v.rsplit("-", 1)[-1])

    def exists(self, version: str) -> bool:
        """Whether `version` is a saved version of this folder."""
        return (
            bool(version)
            and "/" not in version
            and not version.startswith(".")
            and self.folder.is_file(f"{version}/{CONFIG}")
        )

    def load(self, version: str) -> Recommender:
        """Load a version with the class its config.json names (downloaded first, once per
        machine, when the folder is a URL)."""
        return load_model(self.folder.local_dir(version))

    def info(self, version: str) -> dict[str, Any]:
        """The version's metrics.json (training facts and offline metrics)."""
        found = self._json(f"{version}/metrics.json", {})
        return found if isinstance(found, dict) else {}

    def meta(self, version: str) -> dict[str, Any]:
        """The version's config.json: the model's name and full configuration."""
        where = f"{self.where}/{version}"
        meta = self._json(f"{version}/{CONFIG}", None)
        if not isinstance(meta, dict):
            raise ModelError(f"{where} is not a saved model: config.json is missing")
        if meta.get("format") != FORMAT_VERSION:
            raise ModelError(f"{where}/{CONFIG}: unsupported format {meta.get('format')!r}")
        return meta

    def deletion_mark(self, version: str) -> dict[str, Any] | None:
        """How many shoppers were deleted after `version` was trained (None: none were)."""
        return marks.read_mark(self.folder, version)

    def note_deletion(self, events_removed: int) -> Names:
        """A shopper with `events_removed` events was deleted from the store just now: mark
        every saved version as containing a deleted shopper (none when they had no events: no
        model learnt from them). Returns the marked versions."""
        if events_removed <= 0:
            return []
        at = time.time()
        with self.folder.lock():
            marks.log_deletion(self.folder, at)
            found = self.list()
            for version in found:
                marks.add(self.folder, version, [at])
        _log.info("marked %d versions as containing a deleted shopper", len(found))
        return found

    # -- activation ------------------------------------------------------------------------------
    def active(self) -> str | None:
        """The active version's name, or None when nothing was trained yet."""
        text = self.folder.read_text(ACTIVE_FILE)
        return (text or "").strip() or None

    def active_stamp(self) -> Hashable | None:
        """A cheap key that changes whenever the ACTIVE file is replaced (a local folder: its
        inode, time and size), or None when there is none (a URL: read it on an interval)."""
        return self.folder.stamp(ACTIVE_FILE)

    def activate(
        self, version: str, *, reason: str = "activated", replacing: str | None | bool = True
    ) -> str | None:
        """Make `version` the active one; returns the version active before (None: none).

        Args:
            replacing: activate only if this version (None: no version) is still the active
                one, else raise DataError (True: whatever is active).
        """
        self.require(version)
        with self.folder.lock():
            previous = self.active()
            if replacing is not True and previous != replacing:
                raise DataError(
                    f"the active version changed from {replacing} to {previous} while "
                    f"{version} was trained; 'cartwise models activate {version}' activates it"
                )
            self._write_active(version)
            stack = self._stack(previous)
            if not stack or stack[-1] != version:
                stack.append(version)
            self._write_history(stack, "activate", version, previous, reason)
        _log.info("activated %s (was %s): %s", version, previous, reason)
        return previous

    def rollback_target(self) -> str | None:
        """The version :meth:`rollback` would activate: the latest one active before the
        current one that is still saved (None: there is none)."""
        active = self.active()
        for version in reversed(self._stack(active)[:-1]):
            if version != active and self.exists(version):
                return version
        return None

    def rollback(self) -> tuple[str, str | None]:
        """Activate the version active before the current one; returns (now active, was).

        Raises:
            NotFoundError: no earlier active version is still saved.
        """
        with self.folder.lock():
            target = self.rollback_target()
            previous = self.active()
            if target is None:
                raise NotFoundError(
                    f"no earlier active version to roll back to in {self.where}; list the versions "
                    "with 'cartwise models list' and activate one with 'cartwise models activate'"
                )
            self.meta(target)
            self._write_active(target)
            stack = self._stack(previous)
            while stack and stack[-1] != target:
                stack.pop()
            self._write_history(stack, "rollback", target, previous, "rolled back")
        _log.info("rolled back from %s to %s", previous, target)
        return target, previous

    def history(self) -> Log:
        """Activations and rollbacks, oldest first (time, action, version, previous, reason)."""
        log = self._json(HISTORY_FILE, {}).get("log", [])
        return list(log) if isinstance(log, list) else []

    # -- pruning -------------------------------------------------------------------------------
    def prune(self, keep: int) -> Names:
        """Delete all but the `keep` newest versions; never the active one or the rollback
        target. Returns the deleted names, oldest first."""
        if keep < 0:
            raise ConfigError(f"--keep {keep}: keep a number of versions >= 0")
        deleted: Names = []
        with self.folder.lock():
            every = self.list()
            spared = {self.active(), self.rollback_target(), *every[len(every) - keep :]}
            for version in every:
                if version in spared:
                    continue
                self.folder.remove(version)
                deleted.append(version)
        _log.info("pruned %d versions: %s", len(deleted), deleted)
        return deleted

    # -- internals -----------------------------------------------------------------------------
    def require(self, version: str) -> None:
        """NotFoundError naming the fix unless `version` is a saved, readable version."""
        if not self.exists(version):
            raise NotFoundError(
                f"model version '{version}' is not in {self.where}; 'cartwise models list' "
                "lists the saved versions"
            )
        self.meta(version)

    def _json(self, rel: str, default: Any) -> Any:
        text = self.folder.read_text(rel)
        return default if text is None else json.loads(text)

    def _write_active(self, version: str) -> None:
        self.folder.write_text(ACTIVE_FILE, version)

    def _stack(self, active: str | None) -> Names:
        """The activation stack, ending with `active` (ACTIVE written by an older Cartwise has
        no history: it starts the stack)."""
        stack = self._json(HISTORY_FILE, {}).get("stack", [])
        stack = [v for v in stack if isinstance(v, str)] if isinstance(stack, list) else []
        if active is not None and (not stack or stack[-1] != active):
            stack.append(active)
        return stack

    def _write_history(
        self, stack: Names, action: str, version: str, previous: str | None, reason: str
    ) -> None:
        entry = {"at": datetime.now(UTC).isoformat(), "unix": time.time(), "action": action,
                 "version": version, "previous": previous, "reason": reason}  # fmt: skip
        log = [*self.history(), entry][-_MAX_LOG:]
        text = json.dumps({"stack": stack[-_MAX_STACK:], "log": log}, indent=2, default=str)
        self.folder.write_text(HISTORY_FILE, text)
