"""The activation gate: a newly trained version replaces the active one only when it is not
worse on the same holdout by more than a margin.

A fair comparison needs a holdout neither version trained on (the one that did would look
better than it is). :func:`plan` chooses one before the new version is fitted, the first that
applies:

- ``after``: at least ``min_users`` shoppers have events both before and after the newest
  event the active version learnt from (``window.last`` in its metrics.json). The new run
  holds out everything after that moment: its validation fit learns from the events the
  active version learnt from, both are scored on what came later (the active version through
  :mod:`.heldout`, in external ids), and the new version is fitted again on every event
  before it is saved, so it still learns the newest ones.
- ``recorded``: the store is as the active version read it (no event arrived, no shopper was
  deleted, the same catalog size) and the holdout is asked for as it was then: the new run's
  holdout is the active version's own, and its recorded validation figure is compared.
- ``same-recipe``: too little arrived to hold out, and the new run fits the active version's
  model with its settings and seed: the new version differs only by the events it adds, and
  there is nothing the active version did not see to judge it on. It passes, and says so.
- ``reference``: otherwise (another model or settings, too little new data): the active
  version's recipe (:mod:`.recipe`) is fitted on the new run's training events as a
  reference, and both validation fits are scored on the new run's holdout. This costs one
  more fit, and compares the two recipes rather than the active version's weights.

The margin is relative: the new version passes when ``new ≥ active × (1 − margin)``. The
default, 2 %, is about the spread of NDCG@10 between two trainings of one configuration with
different seeds, so a retrain that only drew another seed is not refused, while a retrain that
lost a sizeable share of the active version's hits is. A relative margin means the same on a
shop whose NDCG@10 is 0.05 as on one where it is 0.5.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from typing import Any

from cartwise.data.dataset import Dataset
from cartwise.errors import ConfigError
from cartwise.lifecycle.heldout import HeldOut, score
from cartwise.lifecycle.recipe import Recipe, recipe
from cartwise.lifecycle.versions import Versions
from cartwise.models.base import Recommender

_log = logging.getLogger(__name__)

DEFAULT_MARGIN = 0.02
#: The "after" cut lies this far (seconds) past the active version's newest event, so that
#: event stays on the training side, where the active version learnt it.
CUT_AFTER = 1e-3


@dataclass(frozen=True)
class Gate:
    """When a new version may replace the active one.

    Attributes:
        margin: how much worse than the active version, relative to its figure, the new one
            may be (0.02: 2 % lower passes).
        metric: the figure compared (``ndcg@K`` or ``hr@K``).
        min_users: fewest held-out shoppers unseen by the active version to compare on them
            alone (otherwise the whole holdout is used; see the module docstring).
    """

    margin: float = DEFAULT_MARGIN
    metric: str = "ndcg@10"
    min_users: int = 20

    def __post_init__(self) -> None:
        if not 0.0 <= self.margin < 1.0:
            raise ConfigError(
                f"gate margin {self.margin}: give a share of the active version's figure in "
                "[0, 1), e.g. 0.02 for 2 %"
            )
        name, _, k = self.metric.partition("@")
        if name not in ("ndcg", "hr") or not k.isdigit() or int(k) < 1:
            raise ConfigError(f"gate metric '{self.metric}': use ndcg@K or hr@K, e.g. ndcg@10")

    @property
    def k(self) -> int:
        """The cut-off of :attr:`metric`."""
        return int(self.metric.partition("@")[2])


@dataclass(frozen=True)
class Plan:
    """How the gate will compare a new version with the active one (module docstring).

    Attributes:
        active: the active version (None: there is none; the new one is activated).
        basis: ``after``, ``recorded``, ``same-recipe``, ``reference`` or ``none``.
        cut: for ``after``: hold out the events from this time on (epoch seconds).
        figure: for ``recorded``: the active version's own validation figure.
        users: for ``recorded``: the shoppers it was validated on.
        reference: the active version's recipe (fitted as the reference for ``reference``).
        same_recipe: whether the new run's recipe is the active version's.
    """

    active: str | None
    basis: str
    cut: float | None = None
    figure: float | None = None
    users: int = 0
    reference: Recipe | None = None
    same_recipe: bool = False


def plan(
    gate: Gate, versions: Versions, data: Dataset, mark: int, ours: Recipe
) -> Plan:  # fmt: skip
    """How to compare a new version — recipe `ours`, trained on `data`, read from the store at
    event mark `mark` — with the active one."""
    active = versions.active()
    if active is None:
        return Plan(None, "none")
    info = versions.info(active)
    last = (info.get("window") or {}).get("last_unix")
    theirs = recipe(versions, active)
    if last is not None and returning(data, float(last)) >= gate.min_users:
        return Plan(active, "after", cut=float(last) + CUT_AFTER, reference=theirs,
                    same_recipe=theirs.same_fit(ours))  # fmt: skip
    holdout = info.get("holdout") or {}
    figure = (info.get("validation") or {}).get(gate.metric)
    unchanged = (
        info.get("event_mark") == mark
        and info.get("items") == data.n_items
        and versions.deletion_mark(active) is None
        and holdout.get("after") is None
        and holdout.get("last_days") == ours.last_days
    )
    if unchanged and isinstance(figure, int | float):
        return Plan(active, "recorded", figure=float(figure), users=int(holdout.get("users", 0)))
    if theirs.same_fit(ours):
        return Plan(active, "same-recipe", reference=theirs, same_recipe=True)
    return Plan(active, "reference", reference=theirs)


def without_cut(how: Plan) -> Plan:
    """`how` when its ``after`` holdout cannot be cut: ``same-recipe`` or ``reference``."""
    return replace(how, basis="same-recipe" if how.same_recipe else "reference", cut=None)


def returning(data: Dataset, moment: float) -> int:
    """Shoppers with events both at or before `moment` and after it (epoch seconds)."""
    if data.timestamps is None:
        return 0
    return sum(1 for ts in data.timestamps if len(ts) and ts[0] <= moment < ts[-1])


@dataclass(frozen=True)
class Decision:
    """What the gate decided and the figures it compared.

    Attributes:
        activate: whether the new version may replace the active one.
        reason: the decision in words, with both figures.
        metric: the figure compared.
        new: the new version's figure (its validation fit, before any refit).
        active: the active version's figure on the same shoppers (None: nothing to compare).
        active_version: the version compared against.
        users: shoppers compared on.
        margin: the relative margin applied.
        basis: how the figures were obtained (:class:`Plan`'s ``basis``).
        override: why the version was activated although the gate refused (None: it was not).
    """

    activate: bool
    reason: str
    metric: str
    new: float | None = None
    active: float | None = None
    active_version: str | None = None
    users: int = 0
    margin: float = DEFAULT_MARGIN
    basis: str | None = None
    override: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored in the new version's metrics.json as ``gate``)."""
        return asdict(self)

    def overridden(self, why: str) -> Decision:
        """This decision with activation forced for the reason `why`."""
        return replace(self, activate=True, override=why)


def judge(gate: Gate, new: Recommender, active: Recommender, how: Plan, held: HeldOut) -> Decision:
    """Compare `new` with the active version's model `active` on `held`."""
    assert how.active is not None
    if len(held) == 0:
        return Decision(True, "no held-out shopper to compare on", gate.metric,
                        active_version=how.active, margin=gate.margin, basis=how.basis)  # fmt: skip
    ours = score(new, held, (gate.k,))[gate.metric]
    theirs = score(active, held, (gate.k,))[gate.metric]
    return compare(gate, ours, theirs, how, len(held))


_BASIS = {
    "after": "held-out events that came after the active version's training",
    "recorded": "the holdout the active version was validated on (the store is unchanged)",
    "incremental": "the newest events after the active version's training, held out from "
    "the incremental update too",
    "reference": "the events after the new run's holdout cut; the active figure is its "
    "recipe fitted on the same training events (it has seen too little new data to be judged "
    "itself)",
}


def compare(gate: Gate, ours: float, theirs: float, how: Plan, users: int) -> Decision:
    """The decision for the figures `ours` (new) and `theirs` (active) on `users` shoppers."""
    assert how.active is not None
    passes = ours >= theirs * (1.0 - gate.margin)
    figures = (
        f"{gate.metric} {ours:.4f} (new) vs {theirs:.4f} (active {how.active}) on {users} "
        f"held-out shoppers: {_BASIS.get(how.basis, how.basis)}"
    )
    verdict = "passes" if passes else f"worse by more than the {gate.margin:.1%} margin"
    _log.info("activation gate: %s: %s", verdict, figures)
    return Decision(passes, f"{verdict}: {figures}", gate.metric, ours, theirs, how.active,
                    users, gate.margin, how.basis)  # fmt: skip


def unjudged(gate: Gate, how: Plan, why: str) -> Decision:
    """A decision to activate without figures: `why` there is nothing to compare."""
    return Decision(True, why, gate.metric, active_version=how.active, margin=gate.margin,
                    basis=how.basis)  # fmt: skip
