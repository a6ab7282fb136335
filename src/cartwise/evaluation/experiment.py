"""One model on one split: tune on validation, fit, evaluate once on test, record the facts.

Used by ``cartwise evaluate`` and ``benchmarks/quality.py`` so both report the same thing.
"""

from __future__ import annotations

import logging
import resource
from dataclasses import asdict, dataclass, field
from typing import Any

from cartwise.data.split import Split
from cartwise.errors import ConfigError
from cartwise.evaluation.protocol import evaluate, tune
from cartwise.models.fit import fit
from cartwise.models.registry import model_class

_log = logging.getLogger(__name__)

KS = (1, 5, 10, 20)

#: Small validation grids for the baselines: every reported baseline is tuned before it is shown.
GRIDS: dict[str, dict[str, list[Any]]] = {
    "popularity": {"window_days": [None]},
    "itemknn": {"k": [50, 200], "shrink": [0.0, 20.0]},
    "ease": {"reg": [100.0, 300.0, 1000.0]},
    "als": {"embedding_size": [64, 128], "reg": [0.01, 0.1]},
    "bpr": {"embedding_size": [64], "learning_rate": [0.01, 0.05]},
}


#: Short names accepted on the command line.
ALIASES = {"pop": "popularity", "knn": "itemknn"}

#: SASRec settings per public dataset: the literature's architecture (transformer_benchmark:
#: ML-1M emb 64, 2 blocks, length 200; Beauty emb 64, 1 block, length 50) and an epoch budget
#: that fits 20 minutes of training on 2 cores. Datasets not named here use the model defaults.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "ml-1m": {"sasrec": {"max_len": 200, "num_blocks": 2, "dropout": 0.1, "epochs": 70,
                         "learning_rate": 2e-3, "patience": 15}},
    "beauty-bert4rec": {"sasrec": {"max_len": 50, "num_blocks": 2, "dropout": 0.5,
                                   "scale_embeddings": True, "epochs": 20, "patience": 5}},
    # two blocks chosen on validation NDCG@10: SASRec 0.0644 → 0.0655, hybrid 0.0673 → 0.0690;
    # dropout and scaled embeddings re-chosen on validation NDCG@10 (they had been adopted on a
    # test figure): dropout 0.2 / 0.5 × scaled off / on = 0.0639 / 0.0633 / 0.0650 / 0.0656
    # (`python benchmarks/quality.py amazon-beauty-text sasrec --dev TAG --set dropout=D
    # --set scale_embeddings=S` at ffbc314, 2 blocks): the same setting is kept
    "amazon-beauty-text": {"sasrec": {"max_len": 50, "num_blocks": 2, "dropout": 0.5,
                                      "scale_embeddings": True, "epochs": 100}},
    "amazon-scientific": {"sasrec": {"max_len": 50, "num_blocks": 1, "dropout": 0.2,
                                     "epochs": 100}},
    "ml-100k": {"sasrec": {"max_len": 200, "num_blocks": 2, "dropout": 0.1, "epochs": 60}},
}  # fmt: skip


def model_names(spec: str) -> list[str]:
    """``"pop,itemknn,sasrec"`` → registry names, aliases resolved, order kept."""
    names = [ALIASES.get(n.strip(), n.strip()) for n in spec.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"--models '{spec}': name at least one model, e.g. pop,ease,sasrec")
    return names


def preset(dataset: str, model: str) -> dict[str, Any]:
    """The configuration used for `model` on the public dataset `dataset` (may be empty).

    A preset is a complete hand-tuned configuration: the settings it does not name take the
    model's written defaults, as when it was tuned, so it turns ``autoconfig`` off (the
    settings derived from the data are for datasets without a preset).
    """
    found = dict(PRESETS.get(dataset, {}).get(model, {}))
    if found and "autoconfig" in model_class(model).config_class.model_fields:
        found.setdefault("autoconfig", False)
    return found


@dataclass
class ModelRun:
    """Everything reported for one model on one dataset."""

    model: str
    config: dict[str, Any]
    valid: dict[str, float]
    test: dict[str, float]
    train_seconds: float
    peak_rss_mb: float
    epochs: int | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    tuning: list[dict[str, Any]] = field(default_factory=list)
    derived: dict[str, Any] = field(default_factory=dict)
    throughput: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_model(
    name: str,
    split: Split,
    *,
    config: dict[str, Any] | None = None,
    grid: dict[str, list[Any]] | None = None,
    rng: int = 0,
    progress: bool = False,
) -> ModelRun:
    """Tune `name` on the validation set (when a grid is given), fit, evaluate valid and test.

    The test set is scored exactly once, with the configuration chosen on validation.
    """
    tuning: list[dict[str, Any]] = []
    chosen = dict(config or {})
    if grid and any(len(v) > 1 for v in grid.values()):
        chosen, tuning = tune(name, split, grid, base=config, rng=rng, ks=KS)
        _log.info("%s: chose %s on validation", name, chosen)
    elif grid:
        chosen = {**chosen, **{k: v[0] for k, v in grid.items()}}
    fitted = fit(name, chosen, split.train, valid=split.valid, rng=rng, progress=progress)
    model = fitted.model
    valid = evaluate(model, split.valid, ks=KS, progress=progress).metrics
    test = evaluate(model, split.test, ks=KS, progress=progress).metrics
    return ModelRun(
        model=name,
        config=model.config.model_dump(mode="json"),
        valid=valid,
        test=test,
        train_seconds=fitted.seconds,
        peak_rss_mb=peak_rss_mb(),
        epochs=len(fitted.history) or None,
        history=fitted.history,
        tuning=tuning,
        derived=fitted.derived,
        throughput=fitted.throughput,
        training=fitted.training,
    )
