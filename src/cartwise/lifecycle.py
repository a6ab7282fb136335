"""Model versions on disk.

A version is a model directory ``model_dir/<name>-<UTC time>/`` (see
:mod:`cartwise.models.base`) plus ``metrics.json``; the file ``model_dir/ACTIVE`` names the
version recommendations come from. Both are replaced atomically, so processes sharing the folder
never see a half-written version.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cartwise.errors import NotFoundError
from cartwise.models.base import Recommender, read_meta
from cartwise.models.registry import load as load_model

ACTIVE_FILE = "ACTIVE"


class Versions:
    """The saved model versions in one folder."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def save(self, model: Recommender, info: dict[str, Any]) -> str:
        """Save `model` as a new version (not yet active); returns its name."""
        version = f"{model.name}-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{version}.tmp"
        try:
            model.save(tmp)
            (tmp / "metrics.json").write_text(json.dumps(info, indent=2, default=str))
            tmp.replace(self.root / version)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return version

    def list(self) -> list[str]:
        """Version names, oldest first."""
        if not self.root.is_dir():
            return []
        found = [
            p.name
            for p in self.root.iterdir()
            if not p.name.startswith(".") and (p / "config.json").is_file()
        ]
        return sorted(found, key=lambda v: v.rsplit("-", 1)[-1])

    def activate(self, version: str) -> None:
        """Make `version` the active one."""
        if not (self.root / version).is_dir():
            raise NotFoundError(f"model version '{version}' is not in {self.root}")
        read_meta(self.root / version)
        tmp = self.root / f".{ACTIVE_FILE}.{os.getpid()}"
        tmp.write_text(version)
        tmp.replace(self.root / ACTIVE_FILE)

    def active(self) -> str | None:
        """The active version's name, or None when nothing was trained yet."""
        marker = self.root / ACTIVE_FILE
        return marker.read_text().strip() if marker.is_file() else None

    def load(self, version: str) -> Recommender:
        """Load a version with the class its config.json names."""
        return load_model(self.root / version)

    def info(self, version: str) -> dict[str, Any]:
        """The version's metrics.json (training facts and offline metrics)."""
        path = self.root / version / "metrics.json"
        return json.loads(path.read_text()) if path.is_file() else {}
