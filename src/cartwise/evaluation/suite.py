"""What ``cartwise evaluate`` runs: one split of a dataset (a file's, or the store's events)
and a list of models on it, each through :func:`cartwise.evaluation.experiment.run_model`.

Two splits: ``leave-one-out`` (the literature's protocol, the default for dataset files) and
``temporal`` (the default for a shop's store: train on the events before a cut-off, test on
each shopper's later events; see :func:`cartwise.data.split.temporal_cut`). The temporal
cut-off defaults to the time that leaves the newest 10 % of events after it, so the test
period scales with the shop's volume whatever its time span.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from cartwise.data.dataset import Dataset
from cartwise.data.split import Split, leave_last_out, temporal_cut
from cartwise.errors import ConfigError, DataError
from cartwise.evaluation.experiment import ALIASES, GRIDS, ModelRun, preset, run_model
from cartwise.models.registry import model_class

_log = logging.getLogger(__name__)

SPLITS = ("temporal", "leave-one-out")
DEFAULT_TEST_SHARE = 0.1
FILE_MODELS = "pop,itemknn,ease,als,sasrec"
STORE_MODELS = "pop,itemknn,ease,als,sasrec,hybrid"


def variants() -> dict[str, tuple[str, dict[str, Any]]]:
    """Report labels that are a registered model with settings: the event-aware Transformer
    (``sasrec-events``) when this SASRec reads event kinds."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    if "event_aware" in model_class("sasrec").config_class.model_fields:
        found["sasrec-events"] = ("sasrec", {"event_aware": True})
    return found


def default_models(*, from_store: bool) -> str:
    """The models ``cartwise evaluate`` runs by default: on a file, the baselines and SASRec;
    on the store, those, the hybrid and the event-aware SASRec when it exists."""
    return ",".join([STORE_MODELS, *variants()]) if from_store else FILE_MODELS


def labels(spec: str) -> list[str]:
    """``"pop,itemknn,sasrec-events"`` → report labels (aliases resolved, order kept); each a
    registered model or a :func:`variants` label."""
    names = [ALIASES.get(n.strip(), n.strip()) for n in spec.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"--models '{spec}': name at least one model, e.g. pop,ease,sasrec")
    known = variants()
    for name in names:
        if name not in known:
            model_class(name)  # ConfigError naming the registered models
    return names


@dataclass(frozen=True)
class SplitSpec:
    """How to split a dataset for evaluation.

    Attributes:
        kind: ``temporal`` or ``leave-one-out``.
        cutoff: the temporal cut-off (None: the time leaving `test_share` of events after it).
        test_share: share of events after the default temporal cut-off.
    """

    kind: str = "leave-one-out"
    cutoff: datetime | None = None
    test_share: float = DEFAULT_TEST_SHARE

    def __post_init__(self) -> None:
        if self.kind not in SPLITS:
            raise ConfigError(f"--split '{self.kind}': choose temporal or leave-one-out")
        if not 0.0 < self.test_share < 1.0:
            raise ConfigError(f"--test-share {self.test_share}: give a share in (0, 1), e.g. 0.1")

    def apply(self, data: Dataset) -> tuple[Split, str]:
        """The split of `data`, and its description for the report."""
        if self.kind == "leave-one-out":
            return leave_last_out(data), "Leave-one-out"
        at = self.cutoff.timestamp() if self.cutoff is not None else self._default_cut(data)
        when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return temporal_cut(data, at), f"Temporal split at {when} (trained before, tested after)"

    def _default_cut(self, data: Dataset) -> float:
        if data.timestamps is None:
            raise DataError(f"dataset '{data.name}' has no timestamps; use --split leave-one-out")
        parts = [ts for ts in data.timestamps if len(ts)]
        if not parts:
            raise DataError(f"dataset '{data.name}' has no events to split")
        stamps = np.sort(np.concatenate(parts))
        return float(stamps[min(len(stamps) - 1, int(len(stamps) * (1 - self.test_share)))])


def run_models(
    names: Sequence[str],
    split: Split,
    *,
    dataset: str,
    overrides: dict[str, dict[str, Any]] | None = None,
    tune: bool = True,
    seed: int = 0,
    progress: bool = False,
    on_run: Callable[[str, ModelRun | None], None] | None = None,
) -> list[ModelRun]:
    """Run every model of `names` (labels) on `split`: the dataset's preset, then the label's
    variant settings, then `overrides[label]`; baselines tuned on validation when `tune`.
    `on_run(label, None)` is called before each model, `on_run(label, run)` after."""
    known = variants()
    runs = []
    for label in names:
        base, extra = known.get(label, (label, {}))
        config = {**preset(dataset, base), **extra, **(overrides or {}).get(label, {})}
        if on_run is not None:
            on_run(label, None)
        run = run_model(base, split, config=config, grid=GRIDS.get(base) if tune else None,
                        rng=seed, progress=progress)  # fmt: skip
        run.model = label
        runs.append(run)
        if on_run is not None:
            on_run(label, run)
    return runs
