"""Training a new version on the store, validated on its newest events, through the gate.

:func:`train_version` is what ``cartwise train``, ``cartwise retrain`` and the demo run: a
snapshot of the store's events, the shoppers' latest events (or the last days) held out as
validation (early stopping, and the metrics the version records), the one fit path
(:func:`cartwise.models.fit.fit`), optionally a refit on everything for the epochs validation
chose, then a saved version, activated when asked and, with a :class:`~.gate.Gate`, only when
it is not worse than the active version on the same holdout (:mod:`cartwise.lifecycle.gate`).

The version's ``metrics.json`` records what a later retrain and the gate need: the model and
the settings asked for, the seed, the training window (first and last event time learnt from),
the store's event mark when it was read (what ``retrain --if-new-events`` counts from), the
validation metrics and the gate's decision.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from cartwise.data.dataset import Dataset
from cartwise.data.split import EvalSet, holdout_from, holdout_recent
from cartwise.data.store import Store
from cartwise.errors import CartwiseError, DataError
from cartwise.evaluation.protocol import evaluate
from cartwise.lifecycle.gate import (
    Decision,
    Gate,
    Plan,
    compare,
    judge,
    plan,
    unjudged,
    without_cut,
)
from cartwise.lifecycle.heldout import HeldOut
from cartwise.lifecycle.recipe import Recipe
from cartwise.lifecycle.versions import Versions
from cartwise.models.base import Recommender, Rng
from cartwise.models.fit import Fitted, fit
from cartwise.models.registry import model_class
from cartwise.training import distributed

_log = logging.getLogger(__name__)

SAME_RECIPE = (
    "the active version's model, settings and seed again, with the events that arrived since; "
    "fewer than {} shoppers came back after its training, so nothing it did not see can judge "
    "it: activated"
)
DELETED_OVERRIDE = (
    "the active version contains shoppers deleted after its training; a version trained "
    "without them replaces it whatever the gate says"
)


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


@dataclass(frozen=True)
class Trained:
    """A training run's outcome.

    Attributes:
        version: the saved version's name.
        activated: whether it is now the active version.
        decision: the gate's decision (None: activation was not gated, or not asked for).
        info: what the version's metrics.json records.
    """

    version: str
    activated: bool
    decision: Decision | None
    info: dict[str, Any]


#: The default holdout: each shopper's latest event.
HOLDOUT = Holdout()


def train_version(
    store: Store,
    versions: Versions,
    name: str,
    config: dict[str, Any] | None = None,
    *,
    rng: Rng = 0,
    holdout: Holdout | None = HOLDOUT,
    activate: bool = True,
    gate: Gate | None = None,
    progress: bool = False,
) -> Trained:
    """Fit `name` on the store's events with a validation holdout, save the version (with its
    validation metrics in ``metrics.json``) and, when `activate`, activate it: at once without
    a `gate`, else only when the gate lets it (see :mod:`cartwise.lifecycle.gate`).

    Args:
        holdout: what to hold out (default: each shopper's latest event); None trains on
            everything without validation. A store too small to hold anything out trains
            without it (and the gate has nothing to compare on).

    Under torchrun every rank trains (data-parallel) and only rank 0 validates, consults the
    gate and saves; the other ranks return a :class:`Trained` with no version (``""``).
    """
    mark = store.event_mark()
    read = {"event_mark": mark, "snapshot_at": time.time()}
    # the kinds the model reads: positive ones, or every behaviour for the event-aware model
    data = Dataset.from_store(store, kinds=model_class(name)(config).input_kinds)
    spec = holdout or Holdout(refit=False)
    ours = Recipe(name, dict(config or {}), rng if isinstance(rng, int) else -1, spec.last_days)
    how = plan(gate, versions, data, mark, ours) if activate and gate else None
    started = time.perf_counter()
    train, valid, how = _split(data, spec, how) if holdout is not None else (data, None, how)
    fitted = fit(name, config, train, valid=valid, rng=rng, progress=progress)
    main = distributed.is_main()
    metrics = _valid_metrics(fitted, valid) if main else {}
    decision = None
    if gate is not None and how is not None and main:
        decision = _decide(gate, how, versions, fitted.model, metrics, (data, train, valid),
                           progress=progress)  # fmt: skip
    cut = how.cut if how is not None else None
    refit = valid is not None and _refits(spec, name, cut)
    if refit:
        fitted = fit(name, _refit_config(name, config, fitted), data, rng=rng, progress=progress)
    if not main:  # under torchrun only rank 0 saves the version
        return Trained("", False, None, {})
    info = {
        "model": name, "settings": dict(config or {}),
        "seed": rng if isinstance(rng, int) else None,
        "trained_at": datetime.now(UTC).isoformat(),
        "train_seconds": time.perf_counter() - started,
        **read, "window": training_window(data if refit or valid is None else train),
        "users": data.n_users, "items": data.n_items, "interactions": data.n_interactions,
        "holdout": {"last_days": spec.last_days, "after": _iso(cut) if cut else None,
                    "refit": refit, "users": len(valid) if valid is not None else 0},
        "best_epoch": fitted.best_epoch, "validation": metrics, "derived": fitted.derived,
        "throughput": fitted.throughput, "history": fitted.history,
        "gate": decision.to_dict() if decision is not None else None,
    }  # fmt: skip
    return _save(versions, fitted.model, info, activate=activate, decision=decision)


def _save(
    versions: Versions,
    model: Recommender,
    info: dict[str, Any],
    *,
    activate: bool,
    decision: Decision | None,
) -> Trained:
    """Save `model` as a version recording `info`; activate it when asked and the gate's
    `decision` (None: not gated) lets it."""
    version = versions.save(model, info)
    activated = activate and (decision is None or decision.activate)
    if activated and decision is not None:
        decision = _activate_if_unchanged(versions, version, decision)
        activated = decision.activate
    elif activated:
        versions.activate(version, reason="trained")
    return Trained(version, activated, decision, info)


def train_on_store(
    store: Store,
    versions: Versions,
    name: str,
    config: dict[str, Any] | None = None,
    *,
    rng: Rng = 0,
    holdout: Holdout | None = HOLDOUT,
    activate: bool = True,
    gate: Gate | None = None,
    progress: bool = False,
) -> str:
    """:func:`train_version`, returning the new version's name only."""
    return train_version(store, versions, name, config, rng=rng, holdout=holdout,
                         activate=activate, gate=gate, progress=progress).version  # fmt: skip


def training_window(data: Dataset) -> dict[str, Any] | None:
    """First and last event time in `data` (ISO and epoch seconds); None without times."""
    if data.timestamps is None:
        return None
    stamps = [ts for ts in data.timestamps if len(ts)]
    if not stamps:
        return None
    first = min(float(ts.min()) for ts in stamps)
    last = max(float(ts.max()) for ts in stamps)
    return {"first": _iso(first), "last": _iso(last), "first_unix": first, "last_unix": last}


def _split(
    data: Dataset, spec: Holdout, how: Plan | None
) -> tuple[Dataset, EvalSet | None, Plan | None]:
    """Training data and validation set: everything after the gate's cut when it has one,
    else what `spec` asks for (none when the store is too small to hold anything out)."""
    if how is not None and how.cut is not None:
        try:
            return (*holdout_from(data, how.cut), how)
        except DataError as exc:
            _log.warning("the gate cannot hold out what came after the active version: %s", exc)
            how = without_cut(how)
    try:
        return (*holdout_recent(data, spec.last_days), how)
    except DataError as exc:
        _log.warning("training without validation: %s", exc)
        return data, None, how


def _refits(spec: Holdout, name: str, cut: float | None) -> bool:
    """Whether to fit again on everything: as asked, else always after the gate's cut (the
    newest events were held out), else by the model's kind (:meth:`Holdout.refits`)."""
    if spec.refit is None and cut is not None:
        return True
    return spec.refits(name)


def _decide(
    gate: Gate,
    how: Plan,
    versions: Versions,
    model: Recommender,
    metrics: dict[str, float],
    split: tuple[Dataset, Dataset, EvalSet | None],
    *,
    progress: bool = False,
) -> Decision:
    """The gate's decision for `model` (validation fit on ``split[1]``, validated on
    ``split[2]``, both cut from ``split[0]``) against the active version, as `how` plans."""
    data, train, valid = split
    ours = metrics.get(gate.metric)
    if how.active is None:
        return unjudged(gate, how, "no version was active")
    if valid is None or ours is None:
        return unjudged(gate, how, "too few events to hold any out: nothing to compare on")
    if how.basis == "same-recipe":
        decision = unjudged(gate, how, SAME_RECIPE.format(gate.min_users))
    elif how.basis == "recorded" and how.figure is not None:
        decision = compare(gate, ours, how.figure, how, how.users)
    elif how.basis == "reference" and how.reference is not None:
        ref = how.reference
        with distributed.alone():  # rank 0 only: the other ranks do not fit the reference
            fitted = fit(ref.model, ref.settings, train, valid=valid, rng=ref.seed,
                         progress=progress)  # fmt: skip
        theirs = evaluate(fitted.model, valid, ks=(gate.k,)).metrics[gate.metric]
        decision = compare(gate, ours, theirs, how, len(valid))
    else:
        try:
            current = versions.load(how.active)
        except CartwiseError as exc:
            return unjudged(gate, how, f"the active version does not load ({exc})")
        decision = judge(gate, model, current, how, HeldOut.of(data, valid))
    if not decision.activate and versions.deletion_mark(how.active) is not None:
        _log.warning("activation gate refused (%s), but %s", decision.reason, DELETED_OVERRIDE)
        decision = decision.overridden(DELETED_OVERRIDE)
    return decision


def _activate_if_unchanged(versions: Versions, version: str, decision: Decision) -> Decision:
    """Activate `version` if the version the gate compared with is still the active one (an
    operator may have activated another meanwhile: the decision was not about that one);
    returns the decision, refused with the reason when that happened."""
    try:
        versions.activate(version, reason=f"trained; gate: {decision.override or decision.reason}",
                          replacing=decision.active_version)  # fmt: skip
    except DataError as exc:
        _log.warning("not activated: %s", exc)
        return replace(decision, activate=False, reason=f"{decision.reason}; not activated: {exc}")
    return decision


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat()


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
