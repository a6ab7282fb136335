"""``cartwise retrain --incremental``: fine-tune the active Transformer on the events since its
training cut-off, instead of training a new one from scratch.

The active version must hold a SASRec (or the text-aware hybrid) and record its training window
(``window.last_unix`` in its ``metrics.json``): the events after that moment are the update's
loss targets, every earlier event is context (:mod:`cartwise.models.sasrec_update`).

Validation and the gate, as a full retrain: a temporal holdout of the *new* events — each
shopper's latest event when it came after the cut-off, or with the recipe's ``last_days`` the
events of the last days (never reaching before the cut-off) — that neither the active version
nor the update trains on. The update early-stops on it; the gate scores the update and the
active version on it (:func:`cartwise.lifecycle.gate.judge`, basis ``incremental``). Then, like
a full retrain after the gate's cut, the update is run again from the active version's
weights on every new event, for the epochs validation chose, so the newest events are learnt
too; that is the saved version. Its ``metrics.json`` records ``incremental: true`` and its
``parent``; its ``window`` spans the parent's first event to the newest, and ``snapshot_at`` is
the parent's (its weights still hold what the parent learnt, so shoppers deleted since the
parent read the store mark it too).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from cartwise.data.dataset import Dataset
from cartwise.data.split import EvalSet, holdout_from, prefixes
from cartwise.data.store import Store
from cartwise.errors import ConfigError, DataError
from cartwise.evaluation.protocol import evaluate
from cartwise.lifecycle.gate import Decision, Gate, Plan, judge, unjudged
from cartwise.lifecycle.heldout import HeldOut
from cartwise.lifecycle.recipe import recipe
from cartwise.lifecycle.train import Trained, _save, training_window
from cartwise.lifecycle.versions import Versions
from cartwise.models.sasrec import SASRec
from cartwise.models.sasrec_update import check_settings, first_targets, row_map, update

_log = logging.getLogger(__name__)

BASIS = "incremental"


def active_transformer(versions: Versions) -> tuple[str, SASRec, float]:
    """The active version, its model and its training cut-off (epoch seconds).

    Raises:
        ConfigError: no version is active, it is not a Transformer, or it records no window.
    """
    active = versions.active()
    if active is None:
        raise ConfigError(
            f"no active version in {versions.root} to update incrementally; train one first "
            "with 'cartwise train --model sasrec'"
        )
    model = versions.load(active)
    if not isinstance(model, SASRec):
        raise ConfigError(
            f"the active version {active} holds model '{model.name}'; --incremental fine-tunes "
            "a Transformer (sasrec, hybrid): retrain it in full with 'cartwise retrain' (no "
            "--incremental), or train a sasrec with 'cartwise train --model sasrec'"
        )
    last = (versions.info(active).get("window") or {}).get("last_unix")
    if not isinstance(last, int | float):
        raise ConfigError(
            f"the active version {active} records no training window (metrics.json "
            "'window.last_unix'), so the new events are unknown; retrain in full with "
            "'cartwise retrain' (no --incremental)"
        )
    return active, model, float(last)


def update_holdout(
    data: Dataset, after: float, last_days: float | None
) -> tuple[Dataset, EvalSet | None]:
    """Training data and a holdout of events after `after` only (module docstring); no
    holdout (None) when nothing after the cut-off can be held out."""
    assert data.timestamps is not None
    if last_days is not None:
        newest = max(float(ts.max()) for ts in data.timestamps if len(ts))
        try:
            return holdout_from(data, max(after + 1e-3, newest - last_days * 86_400.0))
        except DataError as exc:
            _log.warning("updating without validation: %s", exc)
            return data, None
    lengths = [len(s) for s in data.sequences]
    users = [u for u, n in enumerate(lengths) if n >= 2 and data.timestamps[u][-1] > after]
    if not users:
        _log.warning("updating without validation: no shopper has 2+ events, the last new")
        return data, None
    held = set(users)
    cuts = [slice(0, n - 1 if u in held else n) for u, n in enumerate(lengths)]
    train = data.select(cuts, name=f"{data.name}/train")
    valid = prefixes(data, users, [lengths[u] - 1 for u in users])
    return train, replace(valid, targets=[data.sequences[u][-1:] for u in users])


def update_version(
    store: Store,
    versions: Versions,
    *,
    gate: Gate | None,
    settings: dict[str, Any] | None = None,
    progress: bool = False,
) -> Trained:
    """Fine-tune the active version on the store's events after its cut-off, validate, gate
    and save (module docstring).

    Raises:
        ConfigError: see :func:`active_transformer`; a setting an update cannot change.
        DataError: no event after the cut-off.
    """
    check_settings(dict(settings or {}))
    active, parent, after = active_transformer(versions)
    base, parent_info = recipe(versions, active), versions.info(active)
    mark = store.event_mark()
    read_at = time.time()
    data = Dataset.from_store(store, kinds=parent.input_kinds)
    started = time.perf_counter()
    train, valid = update_holdout(data, after, base.last_days)
    if valid is not None and _new_targets(train, after) == 0:
        _log.warning("updating without validation: the holdout would take every new event")
        train, valid = data, None
    fitted = update(parent, train, after=after, rng=base.seed, valid=valid, settings=settings,
                    progress=progress)  # fmt: skip
    metrics = evaluate(fitted, valid, ks=(10,)).metrics if valid is not None else {}
    decision = _decide(gate, active, fitted, parent, data, valid) if gate is not None else None
    best = fitted.train_result_.best_epoch if fitted.train_result_ is not None else None
    model, refit = fitted, valid is not None
    if refit:
        again = {**(settings or {}), "epochs": best or fitted.config.epochs, "patience": None}
        model = update(parent, data, after=after, rng=base.seed, settings=again,
                       progress=progress)  # fmt: skip
    window = training_window(data) or {}
    first = (parent_info.get("window") or {}).get("first_unix")
    if isinstance(first, int | float):
        window |= {"first": _iso(float(first)), "first_unix": float(first)}
    rows = row_map(parent._vocab, data.items)
    info = {
        "model": parent.name, "settings": dict(base.settings), "seed": base.seed,
        "incremental": True, "parent": active,
        "update": {"after": _iso(after), "after_unix": after, "settings": dict(settings or {}),
                   "new_events": _new_targets(data, after),
                   "items_added": int((rows[1:] < 0).sum()), "parent_items": parent.n_items},
        "trained_at": datetime.now(UTC).isoformat(),
        "train_seconds": time.perf_counter() - started,
        "event_mark": mark, "read_at": read_at,
        "snapshot_at": parent_info.get("snapshot_at", read_at),
        "window": window or None,
        "users": data.n_users, "items": data.n_items, "interactions": data.n_interactions,
        "holdout": {"last_days": base.last_days, "after": _iso(after), "refit": refit,
                    "users": len(valid) if valid is not None else 0},
        "best_epoch": best, "validation": metrics, "derived": fitted.derived_,
        "throughput": model.throughput_, "history": fitted.history_,
        "gate": decision.to_dict() if decision is not None else None,
    }  # fmt: skip
    return _save(versions, model, info, activate=True, decision=decision)


def _decide(
    gate: Gate, active: str, new: SASRec, current: SASRec, data: Dataset, valid: EvalSet | None
) -> Decision:
    how = Plan(active, BASIS)
    if valid is None:
        return unjudged(gate, how, "no new event could be held out: nothing to compare on")
    return judge(gate, new, current, how, HeldOut.of(data, valid))


def _new_targets(data: Dataset, after: float) -> int:
    """Events of `data` after `after` that an update can learn (not a history's first)."""
    first = first_targets(data, after)
    return sum(max(0, len(s) - max(f, 1)) for s, f in zip(data.sequences, first, strict=True))


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat()
