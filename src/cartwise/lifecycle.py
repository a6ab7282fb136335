"""Model versions on disk, and training a new one on the store.

A version is a model directory ``model_dir/<name>-<UTC time>/`` (see
:mod:`cartwise.models.base`) plus ``metrics.json``; the file ``model_dir/ACTIVE`` names the
version recommendations come from. Both are replaced atomically, so processes sharing the folder
never see a half-written version.

:func:`train_on_store` is what ``cartwise train`` (and the demo) run: a snapshot of the store's
events, the shoppers' latest events held out as validation (early stopping, and the metrics the
version records), the one fit path (:func:`cartwise.models.fit.fit`), optionally a refit on
everything for the epochs validation chose, then a saved (and by default activated) version.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cartwise.data.dataset import Dataset
from cartwise.data.split import EvalSet, holdout_recent
from cartwise.data.store import Store
from cartwise.errors import DataError, NotFoundError
from cartwise.evaluation.protocol import evaluate
from cartwise.models.base import Recommender, Rng, read_meta
from cartwise.models.fit import Fitted, fit
from cartwise.models.registry import load as load_model
from cartwise.models.registry import model_class
from cartwise.training import distributed

_log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class Holdout:
    """How a training run on the store validates.

    Attributes:
        last_days: hold out the events of the last this many days (None: each shopper's most
            recent event).
        refit: after validation, fit again on every event (models that early-stop: for the
            epochs validation chose), so the newest events are learnt from too. None (the
            default): refit the models that do not early-stop (their fits are cheap and
            validation chose nothing for them), keep the early-stopped fit of the others.
    """

    last_days: float | None = None
    refit: bool | None = None

    def refits(self, name: str) -> bool:
        """Whether a run of model `name` fits again on everything after validation."""
        if self.refit is not None:
            return self.refit
        return "patience" not in model_class(name).config_class.model_fields


#: The default holdout: each shopper's latest event.
HOLDOUT = Holdout()


def train_on_store(
    store: Store,
    versions: Versions,
    name: str,
    config: dict[str, Any] | None = None,
    *,
    rng: Rng = 0,
    holdout: Holdout | None = HOLDOUT,
    activate: bool = True,
    progress: bool = False,
) -> str:
    """Fit `name` on the store's events with a validation holdout; save the version (with its
    validation metrics in ``metrics.json``) and by default activate it. Returns its name.

    Args:
        holdout: what to hold out (default: each shopper's latest event); None trains on
            everything without validation. A store too small to hold anything out trains
            without it.

    Under torchrun every rank trains (data-parallel) and only rank 0 validates and saves;
    the other ranks return "".
    """
    # the kinds the model reads: positive ones, or every behaviour for the event-aware model
    data = Dataset.from_store(store, kinds=model_class(name)(config).input_kinds)
    spec = holdout or Holdout(refit=False)
    started = time.perf_counter()
    train, valid = data, None
    try:
        if holdout is not None:
            train, valid = holdout_recent(data, spec.last_days)
    except DataError as exc:
        _log.warning("training without validation: %s", exc)
    fitted = fit(name, config, train, valid=valid, rng=rng, progress=progress)
    metrics = _valid_metrics(fitted, valid) if distributed.is_main() else {}
    if valid is not None and spec.refits(name):
        fitted = fit(name, _refit_config(name, config, fitted), data, rng=rng, progress=progress)
    if not distributed.is_main():  # under torchrun only rank 0 saves the version
        return ""
    info = {
        "trained_at": datetime.now(UTC).isoformat(),
        "train_seconds": time.perf_counter() - started,
        "users": data.n_users,
        "items": data.n_items,
        "interactions": data.n_interactions,
        "holdout": {"last_days": spec.last_days, "refit": spec.refits(name),
                    "users": len(valid) if valid is not None else 0},
        "best_epoch": fitted.best_epoch,
        "validation": metrics,
        "derived": fitted.derived,
        "throughput": fitted.throughput,
        "history": fitted.history,
    }  # fmt: skip
    version = versions.save(fitted.model, info)
    if activate:
        versions.activate(version)
    return version


def _valid_metrics(fitted: Fitted, valid: EvalSet | None) -> dict[str, float]:
    if valid is None:
        return {}
    return evaluate(fitted.model, valid, ks=(10,)).metrics


def _refit_config(name: str, config: dict[str, Any] | None, fitted: Fitted) -> dict[str, Any]:
    """`config` with the epochs validation chose and no early stopping (models with epochs)."""
    out = dict(config or {})
    fields = model_class(name).config_class.model_fields
    if fitted.best_epoch is not None and "epochs" in fields:
        out["epochs"] = fitted.best_epoch
        if "patience" in fields:
            out["patience"] = None
    return out
