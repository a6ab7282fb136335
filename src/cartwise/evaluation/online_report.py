"""The online report of an A/B test: per variant and scenario, rates and revenue with intervals,
each variant against the control (the first), with a verdict.

Metrics (per impression: an item shown in an answer and reported as seen):

- ``ctr@k``: clicks on the first ``k`` positions / impressions there; Wilson interval;
- ``add_to_cart_rate``, ``purchase_rate``: add-to-carts, purchases / impressions; Wilson;
- ``revenue_per_1000``: 1000 × revenue / impressions; delta-method interval over shoppers
  (the randomisation unit), :func:`cartwise.evaluation.online.ratio_estimate`.

Comparisons use the two-proportion z-test for the rates (impressions treated as independent
trials, as dashboards commonly do; slightly optimistic when a shopper sees many lists) and a
z-test on the delta-method variances for revenue. Until *every* variant in a scenario reached
the planned impressions, the comparison is sequential (mSPRT always-valid p-value and
confidence sequence, see :mod:`cartwise.evaluation.online` for why mSPRT), with the mixing
prior's sd set to the planned design's minimum detectable effect; after it, fixed horizon.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

from cartwise.data.experiments import Experiment, Tally, get_experiment, list_experiments, tally
from cartwise.data.store import Store
from cartwise.evaluation.online import (
    Comparison,
    difference_test,
    minimum_detectable_effect,
    ratio_estimate,
    sample_ratio_test,
    sequential,
    two_proportion_test,
    wilson_interval,
)

RATES = (("add_to_cart_rate", "add_to_carts"), ("purchase_rate", "purchases"))


def experiment_report(store: Store, experiment_id: str, k: int = 10) -> dict[str, Any]:
    """The report of one experiment as plain data (the HTTP body, the CLI table, the dashboard).

    Raises:
        NotFoundError: no such experiment.
    """
    exp = get_experiment(store, experiment_id)
    counts = tally(store, exp.id, k)
    scenarios = sorted({scenario for _, scenario in counts})
    return {
        "experiment": describe(exp),
        "k": k,
        "scenarios": [_scenario(exp, counts, scenario, k) for scenario in scenarios],
    }


def describe(exp: Experiment) -> dict[str, Any]:
    """An experiment's definition as plain data."""
    return {
        "id": exp.id, "description": exp.description, "status": exp.status,
        "variants": [v.as_dict() for v in exp.variants], "scenarios": exp.scenarios,
        "planned_impressions": exp.planned_impressions, "alpha": exp.alpha,
        "created_at": exp.created_at, "stopped_at": exp.stopped_at,
    }  # fmt: skip


def _scenario(
    exp: Experiment, counts: dict[tuple[str, str], Tally], scenario: str, k: int
) -> dict[str, Any]:
    tallies = [counts.get((v.name, scenario), Tally()) for v in exp.variants]
    reached = all(t.impressions >= exp.planned_impressions for t in tallies)
    rows = []
    for i, (variant, t) in enumerate(zip(exp.variants, tallies, strict=True)):
        row: dict[str, Any] = {
            "variant": variant.name, "model_version": variant.model_version,
            "control": i == 0, "answers": t.answers, "units": t.units,
            "impressions": t.impressions, "clicks": t.clicks,
            "add_to_carts": t.add_to_carts, "purchases": t.purchases, "revenue": t.revenue,
            "metrics": _metrics(exp, tallies[0], t, k, control=i == 0, fixed=reached),
        }  # fmt: skip
        rows.append(row)
    srm = sample_ratio_test([t.units for t in tallies], exp.weights)
    return {
        "scenario": scenario,
        "sequential": not reached,
        "sample_ratio_p": srm,
        "variants": rows,
    }


def _metrics(
    exp: Experiment, a: Tally, b: Tally, k: int, *, control: bool, fixed: bool
) -> list[dict[str, Any]]:
    alpha = exp.alpha
    out = []
    rates = [(f"ctr@{k}", a.clicks_at_k, a.impressions_at_k, b.clicks_at_k, b.impressions_at_k)]
    rates += [(name, getattr(a, f), a.impressions, getattr(b, f), b.impressions)
              for name, f in RATES]  # fmt: skip
    for name, xa, na, xb, nb in rates:
        low, high = wilson_interval(xb, nb, alpha)
        entry = {"name": name, "value": xb / nb if nb else None, "ci_low": low, "ci_high": high}
        comparison = None
        if not control and na and nb:
            comparison = two_proportion_test(xa, na, xb, nb, alpha)
            if not fixed:
                pooled = (xa + xb) / (na + nb)
                tau = minimum_detectable_effect(pooled, exp.planned_impressions, alpha)
                comparison = sequential(comparison, tau)
        out.append(entry | _compared(comparison))
    out.append(_revenue(exp, a, b, control=control, fixed=fixed))
    return out


def _revenue(exp: Experiment, a: Tally, b: Tally, *, control: bool, fixed: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": "revenue_per_1000", "value": None,
                             "ci_low": None, "ci_high": None}  # fmt: skip
    if b.impressions == 0:
        return entry | _compared(None)
    rpm_b, var_b = _rpm(b)
    half = _z(exp.alpha) * math.sqrt(var_b) if math.isfinite(var_b) else None
    entry |= {"value": rpm_b, "ci_low": None if half is None else rpm_b - half,
              "ci_high": None if half is None else rpm_b + half}  # fmt: skip
    comparison = None
    if not control and a.impressions:
        rpm_a, var_a = _rpm(a)
        if math.isfinite(var_a) and math.isfinite(var_b):
            comparison = difference_test(rpm_a, var_a, rpm_b, var_b, exp.alpha)
            if not fixed and var_a > 0:
                planned = var_a * a.impressions / exp.planned_impressions
                tau = (_z(exp.alpha) + NormalDist().inv_cdf(0.8)) * math.sqrt(2 * planned)
                comparison = sequential(comparison, tau)
    return entry | _compared(comparison)


def _rpm(t: Tally) -> tuple[float, float]:
    ratio, var = ratio_estimate(t.unit_revenue, t.unit_impressions)
    return 1000 * ratio, 1e6 * var


def _z(alpha: float) -> float:
    return NormalDist().inv_cdf(1 - alpha / 2)


def _compared(c: Comparison | None) -> dict[str, Any]:
    if c is None:
        return {"effect": None, "effect_low": None, "effect_high": None, "p_value": None,
                "verdict": None}  # fmt: skip
    verdict = {"b better": "better", "a better": "worse"}.get(c.verdict, "no difference yet")
    return {
        "effect": c.effect, "effect_low": _finite(c.ci_low), "effect_high": _finite(c.ci_high),
        "p_value": c.p_value, "verdict": verdict,
    }  # fmt: skip


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def summaries(store: Store, *, running_only: bool = False, k: int = 10) -> list[dict[str, Any]]:
    """:func:`experiment_report` of every (running) experiment, oldest first."""
    found = list_experiments(store, running_only=running_only)
    return [experiment_report(store, e.id, k) for e in found]
