"""A/B tests in the store: definitions, and the tallies of what each variant served.

An experiment names two or more variants, each a model version (None: whichever version is
active) with optional ranking settings and a traffic weight. Shoppers are not stored per
experiment: serving assigns them by a salted hash of their id
(:func:`cartwise.evaluation.online.assign_variant`), and every answer records its experiment and
variant in ``served``, which is what :func:`tally` counts.

Only one running experiment may cover a scenario, so a request is never in two at once.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sqlalchemy import case, func, insert, select, update

from cartwise.data.store import Store
from cartwise.data.tables import experiments, feedback, items, served
from cartwise.errors import DataError, InputError, NotFoundError

#: Scenarios an experiment can split: those whose requests carry a shopper or session id.
SCENARIOS = ("user", "session", "search")
#: Ranking settings a variant may override, and their checks.
SETTINGS = {
    "personalization": "a number in [0, 1]: weight of the shopper's model scores in search",
    "diversity": 'one of "none", "mmr", "category_cap"',
    "mmr_lambda": "a number in [0, 1]",
    "max_per_category": "a whole number ≥ 1",
}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Variant:
    """One arm: the model version it serves (None: the active one), settings and weight."""

    name: str
    model_version: str | None = None
    weight: float = 1.0
    settings: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form stored in the table."""
        return {"name": self.name, "model_version": self.model_version,
                "weight": self.weight, "settings": dict(self.settings)}  # fmt: skip


@dataclass(frozen=True)
class Experiment:
    """An A/B test as stored. The first variant is the control the others are compared with."""

    id: str
    variants: list[Variant]
    salt: str
    description: str = ""
    scenarios: list[str] | None = None  # None: every scenario in SCENARIOS
    planned_impressions: int = 10_000
    alpha: float = 0.05
    status: str = "running"
    created_at: float = 0.0
    stopped_at: float | None = None

    @property
    def weights(self) -> list[float]:
        """Traffic weights, in variant order."""
        return [v.weight for v in self.variants]

    def covers(self, scenario: str) -> bool:
        """Whether requests of `scenario` take part."""
        return scenario in (self.scenarios or SCENARIOS)


def _check(exp: Experiment, versions: Sequence[str] | None) -> None:
    problems: list[str] = []
    if not _ID.match(exp.id):
        problems.append(f"id '{exp.id}': use 1-64 letters, digits, '_', '-', '.'")
    if len(exp.variants) < 2:
        problems.append("variants: give at least two (the first is the control)")
    names = [v.name for v in exp.variants]
    if len(set(names)) != len(names) or not all(_ID.match(n) for n in names):
        problems.append(f"variants {names}: names must be unique ids (letters, digits, _-.)")
    if any(not v.weight >= 0 for v in exp.variants) or sum(exp.weights) <= 0:
        problems.append(f"weights {exp.weights}: each ≥ 0 and at least one > 0")
    for v in exp.variants:
        if versions is not None and v.model_version is not None and v.model_version not in versions:
            problems.append(f"variant {v.name}: unknown model version '{v.model_version}' "
                            f"(`cartwise models list` shows the saved ones)")  # fmt: skip
        for key, value in v.settings.items():
            if key not in SETTINGS:
                problems.append(f"variant {v.name}: unknown setting '{key}' "
                                f"(known: {', '.join(SETTINGS)})")  # fmt: skip
            elif not _ok(key, value):
                problems.append(f"variant {v.name}: setting '{key}' must be {SETTINGS[key]}")
    unknown = [s for s in exp.scenarios or () if s not in SCENARIOS]
    if unknown or exp.scenarios == []:
        problems.append(f"scenarios {exp.scenarios}: choose from {', '.join(SCENARIOS)}")
    if exp.planned_impressions < 1:
        problems.append(f"planned_impressions {exp.planned_impressions}: must be ≥ 1")
    if not 0 < exp.alpha < 0.5:
        problems.append(f"alpha {exp.alpha}: must be in (0, 0.5), e.g. 0.05")
    if problems:
        raise InputError(f"experiment '{exp.id}': " + "; ".join(problems))


def _ok(key: str, value: Any) -> bool:
    if key in ("personalization", "mmr_lambda"):
        return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
    if key == "diversity":
        return value in ("none", "mmr", "category_cap")
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def create_experiment(
    store: Store, exp: Experiment, *, versions: Sequence[str] | None = None
) -> Experiment:
    """Store a new running experiment (a fresh random salt unless `exp.salt` is set).

    Args:
        versions: the saved model versions, to check the variants' (None: not checked).

    Raises:
        InputError: a bad definition (every problem named).
        DataError: the id is taken, or a running experiment covers one of its scenarios.
    """
    exp = replace(exp, salt=exp.salt or secrets.token_hex(8), status="running",
                  created_at=time.time(), stopped_at=None)  # fmt: skip
    _check(exp, versions)
    with store.engine.begin() as conn:
        if conn.execute(select(experiments.c.id).where(experiments.c.id == exp.id)).first():
            raise DataError(f"experiment '{exp.id}' exists already; choose another id")
        for other in _running(conn):
            both = set(other.scenarios or SCENARIOS) & set(exp.scenarios or SCENARIOS)
            if both:
                raise DataError(
                    f"experiment '{other.id}' is running on {', '.join(sorted(both))}; stop it "
                    f"(`cartwise experiments stop {other.id}`) or choose other scenarios"
                )
        conn.execute(insert(experiments), _row(exp))
    return exp


def _row(exp: Experiment) -> dict[str, Any]:
    return {
        "id": exp.id, "description": exp.description, "salt": exp.salt,
        "variants": [v.as_dict() for v in exp.variants], "scenarios": exp.scenarios,
        "planned_impressions": exp.planned_impressions, "alpha": exp.alpha,
        "status": exp.status, "created_at": exp.created_at, "stopped_at": exp.stopped_at,
    }  # fmt: skip


def _experiment(row: Any) -> Experiment:
    m = dict(row._mapping)
    m["variants"] = [Variant(**v) for v in m["variants"]]
    return Experiment(**m)


def _running(conn: Any) -> list[Experiment]:
    stmt = select(experiments).where(experiments.c.status == "running")
    return [_experiment(r) for r in conn.execute(stmt.order_by(experiments.c.created_at))]


def list_experiments(store: Store, *, running_only: bool = False) -> list[Experiment]:
    """Experiments, oldest first (only the running ones with `running_only`)."""
    with store.engine.connect() as conn:
        if running_only:
            return _running(conn)
        stmt = select(experiments).order_by(experiments.c.created_at, experiments.c.id)
        return [_experiment(r) for r in conn.execute(stmt)]


def get_experiment(store: Store, experiment_id: str) -> Experiment:
    """The experiment with this id (NotFoundError if none)."""
    with store.engine.connect() as conn:
        row = conn.execute(select(experiments).where(experiments.c.id == experiment_id)).first()
    if row is None:
        raise NotFoundError(
            f"no experiment '{experiment_id}'; `cartwise experiments list` shows them"
        )
    return _experiment(row)


def stop_experiment(store: Store, experiment_id: str) -> Experiment:
    """Stop a running experiment: its shoppers go back to the active version. Its served rows
    and feedback stay, so its report can still be read.

    Raises:
        NotFoundError: no such experiment.
        DataError: it was stopped already.
    """
    exp = get_experiment(store, experiment_id)
    if exp.status != "running":
        raise DataError(f"experiment '{experiment_id}' was stopped already")
    now = time.time()
    with store.engine.begin() as conn:
        conn.execute(
            update(experiments)
            .where(experiments.c.id == experiment_id)
            .values(status="stopped", stopped_at=now)
        )
    return replace(exp, status="stopped", stopped_at=now)


@dataclass
class Tally:
    """What one variant served in one scenario, and the feedback on it.

    Rates are per impression (an item shown in an answer). ``*_at_k`` count only items at the
    answer's first ``k`` positions. ``unit_revenue``/``unit_impressions`` are per randomisation
    unit (the shopper; an anonymous answer is its own unit) for the delta method.
    """

    answers: int = 0
    units: int = 0  # distinct shoppers served (anonymous answers count one each)
    impressions: int = 0
    clicks: int = 0
    add_to_carts: int = 0
    purchases: int = 0
    revenue: float = 0.0
    impressions_at_k: int = 0
    clicks_at_k: int = 0
    unit_revenue: np.ndarray = field(default_factory=lambda: np.zeros(0))
    unit_impressions: np.ndarray = field(default_factory=lambda: np.zeros(0))


def tally(store: Store, experiment_id: str, k: int = 10) -> dict[tuple[str, str], Tally]:
    """Per (variant, scenario) of an experiment: answers, impressions, clicks, add-to-carts,
    purchases, revenue (a purchase's posted value, else the item's current price)."""
    s, f = served.c, feedback.c
    with store.engine.connect() as conn:
        anonymous = func.sum(case((s.user_id.is_(None), 1), else_=0))
        answers = conn.execute(
            select(s.variant, s.scenario, func.count(), func.count(s.user_id.distinct()), anonymous)
            .where(s.experiment_id == experiment_id)
            .group_by(s.variant, s.scenario)
        ).all()
        rows = conn.execute(
            select(
                s.variant,
                s.scenario,
                s.recommendation_id,
                s.user_id,
                s["items"],
                f.item_id,
                f.kind,
                func.coalesce(f.value, items.c.price, 0.0),
            )  # fmt: skip
            .select_from(
                served.join(feedback, f.recommendation_id == s.recommendation_id).outerjoin(
                    items, items.c.id == f.item_id
                )
            )
            .where(s.experiment_id == experiment_id)
        ).all()
    out: dict[tuple[str, str], Tally] = {}
    for variant, scenario, n, known, anon in answers:
        out[(variant, scenario)] = Tally(answers=int(n), units=int(known) + int(anon or 0))
    units: dict[tuple[str, str], dict[str, list[float]]] = {}
    for variant, scenario, rec_id, user, shown, item, kind, value in rows:
        t = out.setdefault((variant, scenario), Tally())
        unit = units.setdefault((variant, scenario), {}).setdefault(user or rec_id, [0.0, 0.0])
        top = item in shown[:k]
        if kind == "impression":
            t.impressions += 1
            t.impressions_at_k += top
            unit[1] += 1
        elif kind == "click":
            t.clicks += 1
            t.clicks_at_k += top
        elif kind == "add_to_cart":
            t.add_to_carts += 1
        elif kind == "purchase":
            t.purchases += 1
            t.revenue += float(value)
            unit[0] += float(value)
    for key, per_unit in units.items():
        values = np.array(list(per_unit.values()), dtype=np.float64).reshape(-1, 2)
        out[key].unit_revenue, out[key].unit_impressions = values[:, 0], values[:, 1]
    return out
