"""``cartwise retrain``: train the active version's model again on the store up to now, and
activate the result through the gate.

A retrain repeats the active version's recipe (model, the settings asked for, seed, holdout)
from its ``metrics.json``, on every event the store holds now. Shoppers deleted since are not
in the store any more, so a retrain leaves them out by construction; that is what
``--exclude-deleted`` waits for (:func:`due`). It runs in its own process — the CLI command,
or a subprocess the serving process starts on schedule (:mod:`cartwise.lifecycle.schedule`) —
never in a request thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from cartwise.data.store import Store
from cartwise.errors import ConfigError
from cartwise.lifecycle.gate import Gate
from cartwise.lifecycle.recipe import Recipe, recipe
from cartwise.lifecycle.train import Holdout, Trained, train_version
from cartwise.lifecycle.versions import Versions

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Due:
    """Whether a retrain should run now, and why (in words)."""

    run: bool
    reason: str


def new_events(store: Store, versions: Versions, version: str) -> int:
    """Events stored since `version` read the store (all events for a version that did not
    record its mark: one trained by an older Cartwise)."""
    mark = versions.info(version).get("event_mark")
    return store.events_after(mark if isinstance(mark, int) else 0)


def due(
    store: Store,
    versions: Versions,
    *,
    if_new_events: int | None = None,
    exclude_deleted: bool = False,
) -> Due:
    """Whether to retrain: with no condition, always; with conditions, when any holds — at
    least `if_new_events` events arrived since the active version read the store, or
    (`exclude_deleted`) the active version contains shoppers deleted after its training."""
    active = versions.active()
    if active is None or (if_new_events is None and not exclude_deleted):
        return Due(True, "asked to retrain" if active else "no version is active")
    reasons: list[str] = []
    waiting: list[str] = []
    if exclude_deleted:
        mark = versions.deletion_mark(active)
        if mark is not None:
            reasons.append(f"{active} contains {mark['shoppers']} shoppers deleted since")
        else:
            waiting.append(f"{active} contains no deleted shopper")
    if if_new_events is not None:
        n = new_events(store, versions, active)
        said = f"{n} new events since {active} was trained"
        if n >= if_new_events:
            reasons.append(said)
        else:
            waiting.append(f"{said} (fewer than {if_new_events})")
    return Due(True, "; ".join(reasons)) if reasons else Due(False, "; ".join(waiting))


def retrain(
    store: Store,
    versions: Versions,
    *,
    gate: Gate | None,
    model: str | None = None,
    settings: dict[str, Any] | None = None,
    progress: bool = False,
) -> Trained:
    """Train the active version's recipe (or `model`, or with `settings` merged over the
    recipe's) on the store now; activate through `gate` (None: activate whatever it scores).

    Raises:
        ConfigError: no version is active and no `model` was named.
    """
    active = versions.active()
    if active is None and model is None:
        raise ConfigError(
            f"no active version in {versions.root} to retrain; train one first with "
            "'cartwise train --model NAME', or name one with --model"
        )
    base = recipe(versions, active) if active is not None else None
    if base is None or (model is not None and model != base.model):
        base = Recipe(str(model))
    config = {**base.settings, **(settings or {})}
    _log.info("retraining %s with %s (was %s)", base.model, config, active)
    return train_version(store, versions, base.model, config, rng=base.seed,
                         holdout=Holdout(last_days=base.last_days), gate=gate,
                         progress=progress)  # fmt: skip
