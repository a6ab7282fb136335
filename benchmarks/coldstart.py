"""Text-aware Transformer and cold start on one public dataset (one dataset per invocation).

    python benchmarks/coldstart.py amazon-scientific
    python benchmarks/coldstart.py amazon-scientific --set epochs=20
    python benchmarks/coldstart.py ml-1m --cold-models hybrid,content,popularity,sasrec

Two measurements, both full ranking with the seen items filtered:

1. **Overall** (leave-one-out, the protocol of ../shared/BENCHMARKS.md): ``hybrid`` vs ``sasrec``
   (same preset: the literature's architecture per dataset, ``PRESETS`` in
   ``cartwise.evaluation.experiment``), plus ``content`` and ``popularity`` as baselines. Early
   stopping on validation; the test target is scored once.
2. **Cold start** (``cartwise.evaluation.coldstart``): 10% of the items (seed 0) lose every
   training event; the test users whose target is one of them are evaluated. ``random`` is the
   exact expectation of a uniform ranking. The same models are also evaluated on every test
   user of that split (``metrics.cold_split_everyone``): what ranking new items higher costs
   the shoppers whose next item is a known one.

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
from cartwise.evaluation.coldstart import (
    cold_start_split,
    evaluate_cold,
    evaluate_everyone,
    random_metrics,
    run_cold_start,
)
from cartwise.evaluation.experiment import ModelRun, preset, run_model
from cartwise.models.hybrid import Hybrid
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", help="amazon-scientific, amazon-beauty-text or ml-1m")
    parser.add_argument("--set", action="append", default=[], help="key=value for sasrec/hybrid")
    parser.add_argument("--overall-models", default="hybrid,sasrec,content,popularity")
    parser.add_argument("--cold-models", default="hybrid,content,popularity")
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--encoder", default=MINILM)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--results", type=Path, default=None, help="write results here instead")
    parser.add_argument(
        "--boosts", default="1.5,2", help="hybrid cold_boost values also measured on the cold split"
    )
    args = parser.parse_args()
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

    split = leave_last_out(data)
    overall: dict[str, ModelRun] = {}
    for name in [n for n in args.overall_models.split(",") if n]:
        config = cfg.get(name, {})
        overall[name] = run_model(name, split, config=config, rng=args.seed, progress=True)
        run = overall[name]
        print(f"overall {name}: test NDCG@10 {run.test['ndcg@10']:.4f} HR@10 "
              f"{run.test['hr@10']:.4f} train {run.train_seconds:.0f} s", flush=True)  # fmt: skip

    cold = cold_start_split(data, args.fraction, args.seed)
    cold_names = [n for n in args.cold_models.split(",") if n]
    result = run_cold_start(cold, {n: cfg.get(n, {}) for n in cold_names}, rng=args.seed)
    print(f"cold start: {result.cold_items} cold items, {result.users} test users", flush=True)
    hybrid = result.fitted.get("hybrid")
    if isinstance(hybrid, Hybrid):
        for boost in [float(b) for b in args.boosts.split(",") if b]:
            hybrid.set_cold_boost(boost)
            label = f"hybrid-boost{boost:g}"
            result.metrics[label] = evaluate_cold({label: hybrid}, cold)[label]
            result.everyone[label] = evaluate_everyone(hybrid, cold)
            result.train_seconds[label] = result.train_seconds["hybrid"]
            cfg[label] = {**cfg["hybrid"], "cold_boost": boost}
        hybrid.set_cold_boost(cfg["hybrid"].get("cold_boost", 1.0))

    shared = {
        "encode_seconds": round(encode_s, 1), "items_with_text": with_text,
        "cold_items": result.cold_items, "cold_users": result.users,
        "cold_fraction": args.fraction, "seed": args.seed, "users_evaluated": len(split.test),
        "load_avg": round(os.getloadavg()[0], 2),
    }  # fmt: skip
    random_overall = random_metrics(split.test, data.n_items, (1, 5, 10, 20))
    for name in dict.fromkeys([*overall, *result.metrics]):
        metrics: dict[str, Any] = {}
        run = overall.get(name)
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
        config = run.config if run is not None else cfg.get(name, {})
        seconds = run.train_seconds if run is not None else result.train_seconds.get(name, 0.0)
        path = write_result(
            "coldstart", args.dataset, name, {**metrics, **shared}, config=config,
            seconds=seconds, folder=args.results,
        )  # fmt: skip
        test = metrics.get("test", {})
        cold_m = metrics.get("cold", {})
        print(
            f"{name:>10}: test NDCG@10 {test.get('ndcg@10', float('nan')):.4f} "
            f"HR@10 {test.get('hr@10', float('nan')):.4f} | cold HR@10 "
            f"{cold_m.get('hr@10', float('nan')):.4f} NDCG@10 "
            f"{cold_m.get('ndcg@10', float('nan')):.4f} | everyone NDCG@10 "
            f"{metrics.get('cold_split_everyone', {}).get('ndcg@10', float('nan')):.4f}"
            f" -> {path.name}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
