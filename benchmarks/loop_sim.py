"""Closed-loop simulation on the demo store: an A/B test and days of retraining (issue 14).

    python benchmarks/loop_sim.py ab        # popularity vs SASRec, writes loop-ab-demo.json
    python benchmarks/loop_sim.py days      # daily retraining vs a control, loop-days-demo.json
    python benchmarks/loop_sim.py ab --trial /tmp/x   # a trial run, written to /tmp/x

Simulated shoppers (the demo's own, :mod:`loop_world`) are served by the real engine in-process
(:mod:`loop_serve`); they click and buy according to the generator's ground truth; their
feedback is posted through the store and the A/B verdict comes from the project's own
:func:`cartwise.evaluation.online.two_proportion_test` on the store's tally.

``ab``: popularity (control) against SASRec (treatment) in a running experiment split by the
engine's salted hash; every shopper visits ``--visits`` times. ``true_effect`` is the difference
of the arms' expected CTRs (the mean ground-truth click probability of their impressions).

``days``: a Text-aware SASRec (the hybrid, MiniLM text) trained on the demo history serves both
arms on day 0. At the start of day 1 the catalog changes: the demo's cold items go on sale with
text only. From then on the ``retrained`` arm is served by a version trained again on the store
every morning (everything the shoppers did so far), the ``control`` arm by the day-0 version
for good. Every shopper visits once a day. All settings are fixed in this file before the runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from common import require_committed, write_result
from loop_serve import K, Shop, open_store
from loop_world import World, true_effect

from cartwise.data.experiments import Experiment, Variant, create_experiment
from cartwise.data.sources.demo import DemoConfig
from cartwise.text.encoder import MINILM

DEMO = DemoConfig(seed=7, n_items=1000, n_users=1500, days=60, cold_share=0.1)
ALPHA = 0.05
#: float32 (this AVX2 CPU emulates bfloat16), a short time budget per fit, early stopping.
SASREC: dict[str, Any] = {"bf16": False, "time_budget": 90, "epochs": 30, "patience": 3}
HYBRID: dict[str, Any] = {**SASREC, "time_budget": 75, "encoder": MINILM}
_log = logging.getLogger("loop_sim")


def _visits(shop: Shop, users: list[str], day: int) -> None:
    start = shop.world.end + timedelta(days=day)
    step = 86_400 / max(1, len(users))
    for n, uid in enumerate(users):
        shop.visit(uid, start + timedelta(seconds=n * step))
        if (n + 1) % 250 == 0:
            _log.info("day %d: %d/%d shoppers", day, n + 1, len(users))


def _winner(verdict: str, control: str, treatment: str) -> str:
    return {"b better": treatment, "a better": control}.get(verdict, "none")


def run_ab(demo: DemoConfig, folder: Path, visits: int, seed: int = 0,
           sasrec: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Popularity vs SASRec: train both, run the experiment, test it; returns the metrics."""
    world = World(demo, seed)
    store = open_store(world, folder)
    shop = Shop(world, store, folder / "models", seed)
    popularity = shop.engine.train("popularity", rng=seed, activate=False)
    started = time.perf_counter()
    transformer = shop.engine.train("sasrec", sasrec or SASREC, rng=seed)
    train_s = time.perf_counter() - started
    users = sorted(world.shoppers)
    exp = Experiment("loop-ab", [Variant("popularity", popularity), Variant("sasrec", transformer)],
                     salt="loop-ab", scenarios=["user"], alpha=ALPHA,
                     planned_impressions=visits * len(users) * K // 2)  # fmt: skip
    create_experiment(store, exp)
    shop.engine.routing.changed()
    for day in range(visits):
        _visits(shop, users, day)
    c = shop.compare(exp.id, "popularity", "sasrec", ALPHA)
    a, b = shop.arms["popularity"], shop.arms["sasrec"]
    truth = true_effect(a.probs, b.probs)
    store.close()
    return {
        "winner": _winner(c.verdict, "popularity", "sasrec"), "p_value": c.p_value,
        "effect": c.effect, "ci_low": c.ci_low, "ci_high": c.ci_high, "true_effect": truth,
        "true_effect_in_ci": c.ci_low <= truth <= c.ci_high, "confidence": 1 - ALPHA,
        "ctr_popularity": c.estimate_a, "ctr_sasrec": c.estimate_b,
        "expected_ctr_popularity": a.expected_ctr, "expected_ctr_sasrec": b.expected_ctr,
        "impressions_popularity": a.impressions, "impressions_sasrec": b.impressions,
        "shoppers": len(users), "visits": visits, "sasrec_train_seconds": round(train_s, 1),
    }  # fmt: skip


def _day_row(shop: Shop, day: int) -> dict[str, Any]:
    row: dict[str, Any] = {"day": day}
    for name in ("retrained", "control"):
        arm = shop.arms.pop(name)
        row[name] = {"ctr": arm.ctr, "expected_ctr": arm.expected_ctr,
                     "impressions": arm.impressions, "clicks": arm.clicks,
                     "new_item_impressions": arm.new_impressions}  # fmt: skip
    _log.info("day %d: %s", day, row)
    return row


def run_days(demo: DemoConfig, folder: Path, days: int, seed: int = 0,
             hybrid: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Day 0 before the catalog change, days 1..`days` after it, retrained every morning."""
    config = {**(hybrid or HYBRID), "encoder_cache": str(folder / "vectors")}
    world = World(demo, seed)
    store = open_store(world, folder)
    shop = Shop(world, store, folder / "models", seed)
    first = shop.engine.train("hybrid", config, rng=seed)
    exp = Experiment("loop-days", [Variant("control", first), Variant("retrained", None)],
                     salt="loop-days", scenarios=["user"], alpha=ALPHA)  # fmt: skip
    create_experiment(store, exp)
    shop.engine.routing.changed()
    users, rows, seconds = sorted(world.shoppers), [], []
    for day in range(days + 1):
        if day == 1:
            store.upsert_items(world.new_items())
            shop.engine.catalog_changed()
        if day >= 1:
            started = time.perf_counter()
            shop.engine.train("hybrid", config, rng=seed)
            seconds.append(time.perf_counter() - started)
        _visits(shop, users, day)
        rows.append(_day_row(shop, day))
    store.close()
    return _days_metrics(rows, seconds, len(users), len(world.cat.cold))


def _days_metrics(rows: list[dict[str, Any]], seconds: list[float], users: int,
                  new_items: int) -> dict[str, Any]:  # fmt: skip
    ctr = {arm: [r[arm]["ctr"] for r in rows] for arm in ("retrained", "control")}
    expected = {arm: [r[arm]["expected_ctr"] for r in rows] for arm in ("retrained", "control")}
    after = ctr["retrained"][1:]
    rises = [b > a for a, b in zip(after, after[1:], strict=False)]
    return {
        "ctr_by_day": ctr, "expected_ctr_by_day": expected,
        "final_lift": ctr["retrained"][-1] - ctr["control"][-1],
        "final_lift_relative": ctr["retrained"][-1] / ctr["control"][-1] - 1
        if ctr["control"][-1] else None,
        "final_true_lift": expected["retrained"][-1] - expected["control"][-1],
        "rises_every_day": all(rises), "days_rising": sum(rises), "day_pairs": len(rises),
        "days": rows, "shoppers": users, "new_items": new_items,
        "retrain_seconds": [round(s, 1) for s in seconds],
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run ``ab`` or ``days``; write the result file (or the trial folder's)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", choices=["ab", "days"])
    parser.add_argument("--visits", type=int, default=2, help="ab: visits per shopper")
    parser.add_argument("--days", type=int, default=5, help="days: days after the change")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trial", type=Path, help="write the result here instead")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.trial is None:
        require_committed()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if args.run == "ab":
            metrics = run_ab(DEMO, Path(tmp), args.visits, args.seed)
            config: dict[str, Any] = {"sasrec": SASREC, "visits": args.visits}
        else:
            metrics = run_days(DEMO, Path(tmp), args.days, args.seed)
            config = {"hybrid": HYBRID, "days": args.days}
    config |= {"demo": asdict(DEMO), "alpha": ALPHA, "k": K, "seed": args.seed}
    path = write_result(f"loop-{args.run}", "demo", "sasrec" if args.run == "ab" else "hybrid",
                        metrics, config=config, seconds=time.perf_counter() - started,
                        name=f"loop-{args.run}-demo", folder=args.trial)  # fmt: skip
    print(path)
    if args.run == "days":
        from loop_plot import plot_days

        print(plot_days(path, path.with_suffix(".png")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
