"""The one way a model is fitted: by name and settings, on a dataset, with optional validation.

``cartwise train`` on the store (:func:`cartwise.lifecycle.train_on_store`), ``cartwise
evaluate`` and the benchmarks (:func:`cartwise.evaluation.experiment.run_model`) and the demo
all come through :func:`fit`, so they train the same way: the same config validation, the same
validation-driven early stopping, the same progress output.

Progress: with ``progress=True`` a torch model shows a bar on a terminal; on any output (a
terminal or a file) the training loop logs one line per epoch (loss, validation NDCG@10,
seconds), and :func:`fit` logs one line when it is done.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from cartwise.data.dataset import Dataset
from cartwise.data.split import EvalSet
from cartwise.models.base import Recommender, Rng
from cartwise.models.registry import model_class
from cartwise.training import distributed

_log = logging.getLogger(__name__)


@dataclass
class Fitted:
    """A fitted model and how its training went.

    Attributes:
        model: the fitted model (the best epoch's weights for early-stopped models).
        seconds: wall time of the fit.
        history: per epoch (torch models): loss, validation metrics, seconds.
        best_epoch: the epoch kept (1-based), when the model early-stops on validation.
        derived: settings the model derived from the data (name → value and why; SASRec).
        throughput: torch models: achieved ``gflops``, the ``peak_gflops`` measured in the
            same run and their ratio ``peak_share``.
        training: torch models: the epochs the schedule spanned (``planned_epochs``) and
            what ended the run (``stopped_by_budget``, ``stopped_early``).
    """

    model: Recommender
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    derived: dict[str, Any] = field(default_factory=dict)
    throughput: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)


def fit(
    name: str,
    config: dict[str, Any] | None,
    data: Dataset,
    *,
    valid: EvalSet | None = None,
    rng: Rng = 0,
    progress: bool = False,
) -> Fitted:
    """Fit the registered model `name` with `config` on `data`.

    Args:
        name: a registered model name (``cartwise.models.registry``).
        config: its settings (validated by the model's config class).
        data: the training data.
        valid: held-out targets the model early-stops on (models that do), or None.
        rng: seed or Generator.
        progress: show training progress (a bar on a terminal, a line per epoch in logs).
    """
    cls = model_class(name)
    settings = dict(config or {})
    if progress and "progress" in cls.config_class.model_fields:
        settings.setdefault("progress", True)
    started = time.perf_counter()
    model = cls(settings).fit(data, rng=rng, valid=valid)
    seconds = time.perf_counter() - started
    history = [dict(h) for h in getattr(model, "history_", []) or []]
    best = [h.get("epoch") for h in history if h.get("best")]
    derived = dict(getattr(model, "derived_", {}) or {})
    throughput = dict(getattr(model, "throughput_", {}) or {})
    rate = (
        f" at {throughput['gflops']:.3g} GFLOP/s ({throughput['peak_share']:.1%} of the "
        f"{throughput['peak_gflops']:.0f} GFLOP/s matmul peak measured in the run)"
        if throughput
        else ""
    )
    if distributed.is_main():
        _log.info("fitted %s on %s in %.1f s%s", name, data.name, seconds, rate)
    best_epoch = int(best[-1]) if best and best[-1] else None
    result = getattr(model, "train_result_", None)
    training = {} if result is None else {
        "planned_epochs": result.planned_epochs, "stopped_by_budget": result.stopped_by_budget,
        "stopped_early": result.stopped_early,
    }  # fmt: skip
    return Fitted(model, seconds, history, best_epoch, derived, throughput, training)
