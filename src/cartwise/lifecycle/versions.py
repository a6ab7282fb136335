"""Model versions on disk: save, list, activate, roll back, prune.

A version is a model directory ``model_dir/<name>-<UTC time>/`` (see :mod:`cartwise.models.base`)
plus ``metrics.json`` (training facts, validation metrics, the activation gate's decision). The
file ``model_dir/ACTIVE`` names the version recommendations come from; ``ACTIVE.history.json``
beside it keeps the versions that were active before (what :meth:`Versions.rollback` returns
to) and a log of activations. Files are replaced atomically and every read-then-write change
holds the folder's lock (:mod:`cartwise.lifecycle.files`), so processes sharing the folder —
servers, a retrain, an operator's command — never see a half-written version or lose an
activation.
"""

from __future__ import annotations

import logging
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cartwise.errors import ConfigError, DataError, NotFoundError
from cartwise.lifecycle import marks
from cartwise.lifecycle.files import folder_lock, read_json, write_atomic, write_json
from cartwise.models.base import Recommender, read_meta
from cartwise.models.registry import load as load_model

_log = logging.getLogger(__name__)

ACTIVE_FILE = "ACTIVE"
HISTORY_FILE = "ACTIVE.history.json"
_MAX_STACK = 100
_MAX_LOG = 500
Names = list[str]  # (the class below has a method named `list`)
Log = list[dict[str, Any]]


class Versions:
    """The saved model versions in one folder."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # -- saving and reading ------------------------------------------------------------------
    def save(self, model: Recommender, info: dict[str, Any]) -> str:
        """Save `model` as a new version (not yet active); returns its name.

        When ``info["snapshot_at"]`` (epoch seconds the store was read) precedes a shopper's
        deletion, the version is marked as containing deleted shoppers (:mod:`.marks`).
        """
        version = f"{model.name}-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{version}.tmp"
        try:
            model.save(tmp)
            write_json(tmp / "metrics.json", info)
            with folder_lock(self.root):
                tmp.replace(self.root / version)
                marks.mark_if_deleted_since(self.root, version, info.get("snapshot_at"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return version

    def list(self) -> Names:
        """Version names, oldest first."""
        if not self.root.is_dir():
            return []
        found = [
            p.name
            for p in self.root.iterdir()
            if not p.name.startswith(".") and (p / "config.json").is_file()
        ]
        return sorted(found, key=lambda v: v.rsplit("-", 1)[-1])

    def exists(self, version: str) -> bool:
        """Whether `version` is a saved version of this folder."""
        return (
            bool(version)
            and "/" not in version
            and not version.startswith(".")
            and (self.root / version / "config.json").is_file()
        )

    def load(self, version: str) -> Recommender:
        """Load a version with the class its config.json names."""
        return load_model(self.root / version)

    def info(self, version: str) -> dict[str, Any]:
        """The version's metrics.json (training facts and offline metrics)."""
        found = read_json(self.root / version / "metrics.json", {})
        return found if isinstance(found, dict) else {}

    def meta(self, version: str) -> dict[str, Any]:
        """The version's config.json: the model's name and full configuration."""
        return read_meta(self.root / version)

    def deletion_mark(self, version: str) -> dict[str, Any] | None:
        """How many shoppers were deleted after `version` was trained (None: none were)."""
        return marks.read_mark(self.root / version)

    def note_deletion(self, events_removed: int) -> Names:
        """A shopper with `events_removed` events was deleted from the store just now: mark
        every saved version as containing a deleted shopper (none when they had no events: no
        model learnt from them). Returns the marked versions."""
        if events_removed <= 0:
            return []
        at = time.time()
        with folder_lock(self.root):
            marks.log_deletion(self.root, at)
            found = self.list()
            for version in found:
                marks.add(self.root / version, [at])
        _log.info("marked %d versions as containing a deleted shopper", len(found))
        return found

    # -- activation ------------------------------------------------------------------------------
    def active(self) -> str | None:
        """The active version's name, or None when nothing was trained yet."""
        marker = self.root / ACTIVE_FILE
        if not marker.is_file():
            return None
        return marker.read_text().strip() or None

    def activate(
        self, version: str, *, reason: str = "activated", replacing: str | None | bool = True
    ) -> str | None:
        """Make `version` the active one; returns the version active before (None: none).

        Args:
            replacing: activate only if this version (None: no version) is still the active
                one, else raise DataError (True: whatever is active).
        """
        self.require(version)
        with folder_lock(self.root):
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
        with folder_lock(self.root):
            target = self.rollback_target()
            previous = self.active()
            if target is None:
                raise NotFoundError(
                    f"no earlier active version to roll back to in {self.root}; list the versions "
                    "with 'cartwise models list' and activate one with 'cartwise models activate'"
                )
            read_meta(self.root / target)
            self._write_active(target)
            stack = self._stack(previous)
            while stack and stack[-1] != target:
                stack.pop()
            self._write_history(stack, "rollback", target, previous, "rolled back")
        _log.info("rolled back from %s to %s", previous, target)
        return target, previous

    def history(self) -> Log:
        """Activations and rollbacks, oldest first (time, action, version, previous, reason)."""
        log = read_json(self.root / HISTORY_FILE, {}).get("log", [])
        return list(log) if isinstance(log, list) else []

    # -- pruning -------------------------------------------------------------------------------
    def prune(self, keep: int) -> Names:
        """Delete all but the `keep` newest versions; never the active one or the rollback
        target. Returns the deleted names, oldest first."""
        if keep < 0:
            raise ConfigError(f"--keep {keep}: keep a number of versions >= 0")
        deleted: Names = []
        with folder_lock(self.root):
            every = self.list()
            spared = {self.active(), self.rollback_target(), *every[len(every) - keep :]}
            for version in every:
                if version in spared:
                    continue
                doomed = self.root / f".{version}.deleting"
                (self.root / version).replace(doomed)  # gone from list() in one rename
                shutil.rmtree(doomed, ignore_errors=True)
                deleted.append(version)
        _log.info("pruned %d versions: %s", len(deleted), deleted)
        return deleted

    # -- internals -----------------------------------------------------------------------------
    def require(self, version: str) -> None:
        """NotFoundError naming the fix unless `version` is a saved, readable version."""
        if not self.exists(version):
            raise NotFoundError(
                f"model version '{version}' is not in {self.root}; 'cartwise models list' "
                "lists the saved versions"
            )
        read_meta(self.root / version)

    def _write_active(self, version: str) -> None:
        write_atomic(self.root / ACTIVE_FILE, version)

    def _stack(self, active: str | None) -> Names:
        """The activation stack, ending with `active` (ACTIVE written by an older Cartwise has
        no history: it starts the stack)."""
        stack = read_json(self.root / HISTORY_FILE, {}).get("stack", [])
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
        write_json(self.root / HISTORY_FILE, {"stack": stack[-_MAX_STACK:], "log": log})
