"""Recommendation quality on the public datasets: leave-one-out, full ranking, seen filtered.

    python benchmarks/quality.py ml-1m sasrec              # one model, this process
    python benchmarks/quality.py ml-1m                     # every model, one process each
    python benchmarks/quality.py ml-1m sasrec --set epochs=5
    python benchmarks/quality.py online-retail ease        # through the normal ingest path
    python benchmarks/quality.py online-retail ease --split temporal   # last 30 days as test
    python benchmarks/quality.py online-retail ease --split next-basket   # the next order
    python benchmarks/quality.py amazon-beauty-text sasrec --dev d02 --set dropout=0.2
                                                           # validation only, nothing in results/

Baselines are tuned on validation with the grids of ``cartwise.evaluation.experiment.GRIDS``;
SASRec uses ``PRESETS`` (the literature's architecture per dataset). The test target is scored
once. ``--dev TAG`` runs never score it: the validation set stands in for the test set and the
result goes to ``var/quality-dev/quality-<dataset>-<model>-<TAG>.json``. Each run writes
``benchmarks/results/quality-<dataset>-<model>.json`` (the envelope of
../shared/BENCHMARKS.md) with validation and test metrics, training wall time, peak memory, the
machine's load average during the run, and for torch models the epochs, the achieved training
GFLOP/s (``gflops``), the bf16 matmul peak measured in the same run (``peak_gflops``), their
ratio and the settings the model derived from the data (``derived``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, require_committed, run_each, write_result

from cartwise.cli.models import parse_settings
from cartwise.data.dataset import Dataset
from cartwise.data.sources.public import datasets_dir, load_dataset
from cartwise.data.split import Split, leave_last_out, next_basket, temporal_cut
from cartwise.data.store import Store
from cartwise.evaluation.experiment import GRIDS, ModelRun, model_names, preset, run_model

DEFAULT_MODELS = "popularity,itemknn,ease,als,bpr,sasrec"

RETAIL_MAPPING = {
    "user_id": "CustomerID",
    "item_id": "StockCode",
    "session_id": "InvoiceNo",
    "value": "Quantity",
    "timestamp": "InvoiceDate",
}


@contextmanager
def online_retail_store() -> Iterator[Store]:
    """UCI Online Retail through ``ingest_file`` (as ``cartwise ingest events`` does) into a
    temporary store: purchases, cancellations skipped, rows without a customer skipped
    (counted), unknown items created, the invoice number as the session."""
    from cartwise.data.ingest.files import ingest_file

    raw = datasets_dir() / "online-retail" / "online_retail.csv.gz"
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "retail.db")
        summary = ingest_file(
            store, "events", raw, mapping=RETAIL_MAPPING, default_kind="purchase",
            unknown_items="placeholder", negative_value="skip", missing_user="skip",
            progress=True,
        )  # fmt: skip
        for line in summary.lines():
            print(line)
        try:
            yield store
        finally:
            store.close()


def online_retail() -> Dataset:
    """The Online Retail purchases as a dataset (see :func:`online_retail_store`)."""
    with online_retail_store() as store:
        return Dataset.from_store(store, name="online-retail")


def make_split(dataset: str, how: str) -> Split:
    data = online_retail() if dataset == "online-retail" else load_dataset(dataset)
    if how == "temporal":
        if data.timestamps is None:
            sys.exit(f"{dataset} has no timestamps; use --split leave-one-out")
        last = max(float(t[-1]) for t in data.timestamps if len(t))
        return temporal_cut(data, last - timedelta(days=30).total_seconds())
    if how == "next-basket":  # an order's lines share its time (Online Retail: InvoiceDate)
        return next_basket(data)
    # Repeat purchases: leave-one-out on the de-duplicated chronological sequence is the
    # protocol for the public files; the store's purchase log may repeat items, kept as is.
    return leave_last_out(data)


def basket_facts(split: Split) -> dict[str, float]:
    """Size of the test baskets and the share of their items the shopper had bought before
    (hits under this protocol, misses under leave-one-out's seen-item filter)."""
    sizes = [len(t) for t in split.test.targets]
    pairs = zip(split.test.targets, split.test.inputs, strict=True)
    bought = sum(int(np.isin(t, i).sum()) for t, i in pairs)
    return {
        "test_basket_items_mean": round(float(np.mean(sizes)), 2),
        "test_targets_bought_before": round(bought / sum(sizes), 4),
    }


def training_figures(run: ModelRun) -> dict[str, Any]:
    """A torch model's training record: achieved GFLOP/s of the training steps (``gflops``),
    the bf16 matmul peak measured in the same run (``peak_gflops``) and their ratio, per wall
    and per CPU second; the settings derived from the data; validation NDCG@10 per epoch and
    the best epoch. Empty for models without a training loop."""
    extra: dict[str, Any] = {}
    if run.throughput:  # training steps only, against the peak measured in this run
        keys = ("gflops", "peak_gflops", "peak_share", "cpu_gflops", "peak_cpu_gflops",
                "cpu_peak_share")  # fmt: skip
        extra.update({k: run.throughput[k] for k in keys if k in run.throughput})
    if run.derived:
        extra["derived"] = run.derived
    if run.history:
        extra["valid_ndcg_per_epoch"] = [
            round(float(h["metrics"].get("ndcg@10", 0.0)), 4) for h in run.history
        ]
        best = [h for h in run.history if h.get("best")]
        extra["best_epoch"] = int(best[-1]["epoch"]) if best else None
    return extra


def run_one(
    dataset: str, model: str, how: str, settings: dict[str, Any], seed: int, dev: str | None = None
) -> Path:
    split = make_split(dataset, how)
    if dev:  # development: the test targets are never scored
        split = replace(split, test=split.valid)
    print(f"{split.train}: {len(split.test)} users evaluated", flush=True)
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    run = run_model(
        model, split, config={**preset(dataset, model), **settings}, grid=GRIDS.get(model),
        rng=seed, progress=True,
    )  # fmt: skip
    wall = time.perf_counter() - began
    metrics: dict[str, Any] = {"valid": run.valid, "test": run.test}
    extra: dict[str, Any] = {
        "epochs": run.epochs,
        "load_avg_before": round(load_before, 2),
        "load_avg_after": round(os.getloadavg()[0], 2),
        "wall_seconds_with_tuning_and_eval": round(wall, 1),
        "users_evaluated": len(split.test),
        "split": how,
    }
    if how == "next-basket":
        extra.update(basket_facts(split))
    extra.update(training_figures(run))
    if run.tuning:
        extra["tuning"] = run.tuning
    label = dataset if how == "leave-one-out" else f"{dataset}-{how.replace('-', '')}"
    if dev:
        del metrics["test"]
    path = write_result(
        "quality", label, model, {**metrics, **extra}, config=run.config,
        seconds=run.train_seconds, name=f"quality-{label}-{model}-{dev}" if dev else None,
        folder=ROOT / "var" / "quality-dev" if dev else None,
    )  # fmt: skip
    shown = run.valid if dev else run.test
    print(
        f"{label} {model}: valid NDCG@10 {run.valid['ndcg@10']:.4f} {'valid' if dev else 'test'} "
        f"NDCG@10 {shown['ndcg@10']:.4f} Recall@10 {shown['recall@10']:.4f} "
        f"HR@10 {shown['hr@10']:.4f} train {run.train_seconds:.0f} s -> {path}",
        flush=True,
    )
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", help="folder name under ../shared/datasets or online-retail")
    parser.add_argument("models", nargs="?", default=DEFAULT_MODELS, help="comma-separated")
    parser.add_argument("--set", action="append", default=[], help="key=value for the model")
    parser.add_argument(
        "--split", choices=["leave-one-out", "temporal", "next-basket"], default="leave-one-out"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dev", metavar="TAG", help="validation only, written under var/")
    args = parser.parse_args()
    if not args.dev:
        require_committed()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    names = model_names(args.models)
    if len(names) == 1:
        settings = parse_settings(args.set)
        run_one(args.dataset, names[0], args.split, settings, args.seed, args.dev)
        return 0
    same = ["--split", args.split, "--seed", str(args.seed), *(f"--set={s}" for s in args.set)]
    same += ["--dev", args.dev] if args.dev else []
    return run_each({n: [sys.executable, __file__, args.dataset, n, *same] for n in names})


if __name__ == "__main__":
    sys.exit(main())
