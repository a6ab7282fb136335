"""Text-aware Transformer and cold start on one public dataset (one dataset per invocation).

    python benchmarks/coldstart.py amazon-scientific
    python benchmarks/coldstart.py amazon-scientific --set epochs=20
    python benchmarks/coldstart.py amazon-scientific --set time_budget=4m

Two measurements, both full ranking with the seen items filtered:

1. **Overall** (leave-one-out, the protocol of ../shared/BENCHMARKS.md): ``hybrid`` vs ``sasrec``
   (same preset: the literature's architecture per dataset, ``PRESETS`` in
   ``cartwise.evaluation.experiment``), plus ``content`` and ``popularity`` as baselines. Early
   stopping on validation; the test target is scored once.
2. **Cold start** (``cartwise.evaluation.coldstart``): 10% of the items (seed 0) lose every
   training event; the test users whose target is one of them are evaluated. As many other
   items (the cold *validation* items, disjoint) lose theirs too, and the hybrid's cold-start
   settings (id dropout, borrowing, ``cold_boost``) are chosen on the users whose validation
   target is one of them (``cartwise.evaluation.coldselect``, a grid fixed in advance; the
   floor on every validation user's NDCG@10 is SASRec's on the same split). The chosen hybrid
   is scored on the cold test users once; its overall run uses the chosen settings too. The
   grid's validation figures are in the hybrid file's config (``"selected_on": "cold-valid"``).
   ``random`` is the exact expectation of a uniform ranking. The same models are also evaluated
   on every test user of that split (``metrics.cold_split_everyone``): what ranking new items
   higher costs the shoppers whose next item is a known one.

Item text is encoded with all-MiniLM-L6-v2 once and cached in ``var/text-vectors.db`` (the
encode time is reported separately). Writes ``benchmarks/results/coldstart-<dataset>-<model>.json``
per model: ``metrics.valid`` / ``metrics.test`` (overall, when this run measured them) and
``metrics.cold``. A file holds only what its own run measured: a model left out of
``--overall-models`` gets no overall figures, even if an earlier file had them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from common import ROOT, require_committed, write_result

from cartwise.cli.models import parse_settings
from cartwise.data.sources.public import load_dataset
from cartwise.data.split import leave_last_out
from cartwise.evaluation.coldselect import Selection, select_hybrid
from cartwise.evaluation.coldstart import (
    ColdStartResult,
    ColdStartSplit,
    cold_start_split,
    evaluate_cold,
    evaluate_everyone,
    hr_ndcg,
    random_metrics,
    run_cold_start,
)
from cartwise.evaluation.experiment import ModelRun, preset, run_model
from cartwise.models.text import item_vectors, make_encoder
from cartwise.text.encoder import MINILM

CACHE = ROOT / "var" / "text-vectors.db"
KEYS = ("hr@10", "ndcg@10", "hr@20", "ndcg@20", "hr@1", "ndcg@1", "hr@5", "ndcg@5")


def configs(dataset: str, settings: dict[str, Any], encoder: str, cache: Path) -> dict[str, Any]:
    """Config per model: SASRec's preset (and `settings`) shared by hybrid, text settings."""
    sasrec = {**preset(dataset, "sasrec"), **settings}
    text = {"encoder": encoder, "encoder_cache": str(cache)}
    return {
        "sasrec": sasrec,
        "hybrid": {**sasrec, **text, **preset(dataset, "hybrid")},
        "content": text,
        "popularity": {},
    }


def pick(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(float(metrics[k]), 5) for k in KEYS if k in metrics}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", help="amazon-scientific, amazon-beauty-text or ml-1m")
    parser.add_argument("--set", action="append", default=[], help="key=value for sasrec/hybrid")
    parser.add_argument("--overall-models", default="hybrid,sasrec,content,popularity")
    parser.add_argument("--cold-models", default="hybrid,content,popularity,sasrec")
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--encoder", default=MINILM)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--results", type=Path, default=None, help="write results here instead")
    return parser.parse_args()


def cold_phase(
    cold: ColdStartSplit, cfg: dict[str, Any], names: list[str], seed: int
) -> tuple[ColdStartResult, Selection | None]:
    """Fit the cold models; the hybrid's settings are chosen on the cold validation users
    (floor: SASRec's NDCG@10 on every validation user) and it is scored on test once."""
    others = [n for n in names if n != "hybrid"]
    result = run_cold_start(cold, {n: cfg.get(n, {}) for n in others}, rng=seed)
    print(f"cold start: {result.cold_items} cold items, {result.users} test users; "
          f"{cold.valid_items.size} cold validation items, {len(cold.cold_valid)} users",
          flush=True)  # fmt: skip
    if "hybrid" not in names:
        return result, None
    sasrec = result.fitted.get("sasrec")
    floor = hr_ndcg(sasrec, cold.valid_everyone)["ndcg@10"] if sasrec is not None else None
    selection = select_hybrid(cold, cfg["hybrid"], floor=floor, rng=seed)
    for i, p in enumerate(selection.points):  # validation figures only
        mark = " <- chosen" if i == selection.chosen else ""
        print(f"grid {p.settings}: cold-valid NDCG@10 {p.cold_valid['ndcg@10']:.4f} | "
              f"valid-everyone NDCG@10 {p.valid_everyone['ndcg@10']:.4f} "
              f"(floor {floor if floor is not None else float('nan'):.4f}){mark}",
              flush=True)  # fmt: skip
    model = selection.model
    result.metrics["hybrid"] = evaluate_cold({"hybrid": model}, cold)["hybrid"]
    result.everyone["hybrid"] = evaluate_everyone(model, cold)
    result.train_seconds["hybrid"] = selection.train_seconds  # every fit of the grid
    cfg["hybrid"] = {**cfg["hybrid"], **selection.settings}
    return result, selection


def main() -> int:
    args = arguments()
    if args.results is None:
        require_committed()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    cfg = configs(args.dataset, parse_settings(args.set), args.encoder, args.cache)
    data = load_dataset(args.dataset)
    print(f"{data}", flush=True)

    began = time.perf_counter()
    encoder = make_encoder(args.encoder, args.cache)
    vectors = item_vectors(data, encoder, progress=True)  # fills the cache for every fit
    encode_s = time.perf_counter() - began
    with_text = int((vectors[1:] ** 2).sum(axis=1).astype(bool).sum())
    print(f"encoded/cached {data.n_items} item texts in {encode_s:.1f} s", flush=True)

    cold = cold_start_split(data, args.fraction, args.seed)
    cold_names = [n for n in args.cold_models.split(",") if n]
    result, selection = cold_phase(cold, cfg, cold_names, args.seed)

    split = leave_last_out(data)
    overall: dict[str, ModelRun] = {}
    for name in [n for n in args.overall_models.split(",") if n]:
        config = cfg.get(name, {})  # the hybrid at its cold-validation settings
        overall[name] = run_model(name, split, config=config, rng=args.seed, progress=True)
        run = overall[name]
        print(f"overall {name}: test NDCG@10 {run.test['ndcg@10']:.4f} HR@10 "
              f"{run.test['hr@10']:.4f} train {run.train_seconds:.0f} s", flush=True)  # fmt: skip

    shared = {
        "encode_seconds": round(encode_s, 1), "items_with_text": with_text,
        "cold_items": result.cold_items, "cold_users": result.users,
        "cold_valid_items": int(cold.valid_items.size), "cold_valid_users": len(cold.cold_valid),
        "cold_fraction": args.fraction, "seed": args.seed, "users_evaluated": len(split.test),
        "load_avg": round(os.getloadavg()[0], 2),
    }  # fmt: skip
    random_overall = random_metrics(split.test, data.n_items, (1, 5, 10, 20))
    for name in dict.fromkeys([*overall, *result.metrics]):
        write_one(args, name, overall.get(name), result, shared, cfg, selection, random_overall)
    return 0


def write_one(
    args: argparse.Namespace,
    name: str,
    run: ModelRun | None,
    result: ColdStartResult,
    shared: dict[str, Any],
    cfg: dict[str, Any],
    selection: Selection | None,
    random_overall: dict[str, float],
) -> None:
    """Write `name`'s result file (what this run measured only) and print its line."""
    metrics: dict[str, Any] = {}
    if run is not None:
        metrics["valid"], metrics["test"] = pick(run.valid), pick(run.test)
        metrics["epochs"] = run.epochs
    elif name == "random":
        metrics["test"] = pick(random_overall)
    if name in result.metrics:
        metrics["cold"] = pick(result.metrics[name])
        metrics["cold_train_seconds"] = round(result.train_seconds[name], 1)
    if name in result.everyone:
        metrics["cold_split_everyone"] = pick(result.everyone[name])
    # each file holds what this run measured: a model evaluated on the cold split only has
    # no overall figures here (none are copied from an earlier file)
    config = dict(run.config if run is not None else cfg.get(name, {}))
    config["selected_on"] = "cold-valid"  # the protocol: cold-start settings chosen there
    if name == "hybrid" and selection is not None:
        config.update(selection.record())
    seconds = run.train_seconds if run is not None else result.train_seconds.get(name, 0.0)
    path = write_result(
        "coldstart", args.dataset, name, {**metrics, **shared}, config=config,
        seconds=seconds, folder=args.results,
    )  # fmt: skip
    test, cold_m = metrics.get("test", {}), metrics.get("cold", {})
    everyone = metrics.get("cold_split_everyone", {})
    nan = float("nan")
    print(f"{name:>10}: test NDCG@10 {test.get('ndcg@10', nan):.4f} HR@10 "
          f"{test.get('hr@10', nan):.4f} | cold HR@10 {cold_m.get('hr@10', nan):.4f} NDCG@10 "
          f"{cold_m.get('ndcg@10', nan):.4f} | everyone NDCG@10 {everyone.get('ndcg@10', nan):.4f}"
          f" -> {path.name}", flush=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
