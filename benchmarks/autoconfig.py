"""SASRec with no settings at all on a public dataset: what it derives, how long it trains,
and how its NDCG@10 compares with the hand-tuned preset's committed result.

    python benchmarks/autoconfig.py ml-100k
    python benchmarks/autoconfig.py online-retail          # through the normal ingest path
    python benchmarks/autoconfig.py taobao-userbehavior --run-preset
    python benchmarks/autoconfig.py ml-100k --time-budget 1m --out /tmp/trial   # a trial

The same as ``cartwise evaluate --data <dataset> --models sasrec --no-preset`` (no ``--set``):
the model derives its window, loss, dropout and time budget from the data
(:mod:`cartwise.models.sasrec_auto`), trains within the budget, and is evaluated leave-one-out
with full ranking; the test target is scored once. The preset's figure is read from its
committed result file (``benchmarks/results/quality-<dataset>-sasrec.json``), never recomputed;
a dataset without one (Taobao) is compared with ``--run-preset``: the model's written defaults
(``autoconfig=false``, the "preset" of a dataset nobody tuned) trained and tested in the same
run, after the self-configured one.
Writes ``benchmarks/results/autoconfig-<dataset>-sasrec.json`` with the machine's load average:
on a shared machine the training minutes are upper bounds of what an idle one takes. A run
with ``--time-budget`` is not the no-settings run: it is a trial and writes under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from common import RESULTS, cores, require_committed, write_result
from quality import make_split

from cartwise.evaluation.experiment import ModelRun, run_model
from cartwise.evaluation.protocol import evaluate
from cartwise.models.fit import fit
from cartwise.models.sasrec_auto import DEFAULT_TIME_BUDGET


def preset_result(dataset: str) -> dict[str, Any]:
    """The committed preset result's figures (empty when the dataset has none)."""
    path = RESULTS / f"quality-{dataset}-sasrec.json"
    if not path.is_file():
        return {}
    record = json.loads(path.read_text())
    m = record["metrics"]
    return {
        "preset_test_ndcg@10": m["test"]["ndcg@10"],
        "preset_valid_ndcg@10": m["valid"]["ndcg@10"],
        "preset_train_seconds": record["train_seconds"],
        "preset_git_commit": record["git_commit"],
    }


def preset_run(split: Any, seed: int) -> dict[str, Any]:
    """The written defaults (no derivation), trained and tested once in this run, within the
    same time budget as the self-configured run (unbounded, 100 epochs of the default window
    over Taobao's 61k items would take hours here)."""
    config = {"autoconfig": False, "time_budget": DEFAULT_TIME_BUDGET}
    run = run_model("sasrec", split, config=config, rng=seed, progress=True)
    return {
        "preset_test_ndcg@10": run.test["ndcg@10"],
        "preset_valid_ndcg@10": run.valid["ndcg@10"],
        "preset_train_seconds": round(run.train_seconds, 1),
        "preset": "the model defaults (autoconfig=false) within the same time budget, trained "
        "in this run",
    }


def load_note(before: tuple[float, ...], after: tuple[float, ...]) -> str:
    """What the load average says about the minutes and epochs of this run."""
    if max(before[0], after[0]) > 0.5 * cores():
        return (
            "a shared machine (load average above): the training minutes are upper bounds of "
            "an idle machine's, and the budget bought fewer epochs than it would there"
        )
    return "an idle machine (load average above): the minutes are this machine's own"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", help="folder name under ../shared/datasets or online-retail")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--run-preset", action="store_true",
        help="no committed preset result: train the defaults (autoconfig=false) here too",
    )  # fmt: skip
    parser.add_argument("--time-budget", help="a trial's budget, e.g. 1m (needs --out)")
    parser.add_argument("--out", type=Path, help="write the record here (a trial), not results/")
    args = parser.parse_args()
    if args.time_budget is not None and args.out is None:
        parser.error("--time-budget makes a trial, not the no-settings run: give --out DIR")
    if args.out is None:
        require_committed()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    split = make_split(args.dataset, "leave-one-out")
    load_before = os.getloadavg()
    began = time.perf_counter()
    config = {} if args.time_budget is None else {"time_budget": args.time_budget}
    if args.out is not None:
        run = trial_run(split, config, args.seed)
    else:
        run = run_model("sasrec", split, config=config, rng=args.seed, progress=True)
    metrics = figures(run, load_before, began)
    if args.out is not None:  # a trial is development: validation only, no test figure
        del metrics["test"]
        path = write_result("autoconfig", args.dataset, "sasrec", metrics, config=run.config,
                            seconds=run.train_seconds, folder=args.out)  # fmt: skip
        print(f"{args.dataset} (trial): valid NDCG@10 {run.valid['ndcg@10']:.4f} in "
              f"{run.train_seconds / 60:.1f} min -> {path}", flush=True)  # fmt: skip
        return 0
    metrics |= preset_run(split, args.seed) if args.run_preset else preset_result(args.dataset)
    if "preset_test_ndcg@10" in metrics:
        metrics["test_ndcg_vs_preset"] = round(
            run.test["ndcg@10"] / metrics["preset_test_ndcg@10"], 4
        )
    path = write_result(
        "autoconfig", args.dataset, "sasrec", metrics, config=run.config,
        seconds=run.train_seconds,
    )  # fmt: skip
    print(
        f"{args.dataset}: valid NDCG@10 {run.valid['ndcg@10']:.4f} test {run.test['ndcg@10']:.4f}"
        f" (preset {metrics.get('preset_test_ndcg@10')}) in {run.train_seconds / 60:.1f} min "
        f"-> {path}",
        flush=True,
    )
    return 0


def trial_run(split: Any, config: dict[str, Any], seed: int) -> ModelRun:
    """A development run: fitted and validated, the test targets never scored."""
    fitted = fit("sasrec", config, split.train, valid=split.valid, rng=seed, progress=True)
    valid = evaluate(fitted.model, split.valid, ks=(10,), progress=True).metrics
    return ModelRun(
        model="sasrec", config=fitted.model.config.model_dump(mode="json"), valid=valid,
        test={}, train_seconds=fitted.seconds, peak_rss_mb=0.0,
        epochs=len(fitted.history) or None, history=fitted.history, derived=fitted.derived,
        throughput=fitted.throughput, training=fitted.training,
    )  # fmt: skip


def figures(run: ModelRun, load_before: tuple[float, ...], began: float) -> dict[str, Any]:
    """The self-configured run's record: validation and test NDCG@10/HR@10, epochs and what
    ended them, load, derived settings and throughput against the peak measured in the run."""
    after = os.getloadavg()
    return {
        "valid": {k: run.valid[k] for k in ("ndcg@10", "hr@10")},
        "test": {k: run.test[k] for k in ("ndcg@10", "hr@10") if k in run.test},
        "epochs": run.epochs,
        "best_epoch": max((int(h["epoch"]) for h in run.history if h.get("best")), default=None),
        **run.training,
        "load_avg_before": [round(x, 1) for x in load_before],
        "load_avg_after": [round(x, 1) for x in after],
        "wall_seconds_with_eval": round(time.perf_counter() - began, 1),
        "derived": run.derived,
        **{
            k: run.throughput[k]
            for k in ("gflops", "peak_gflops", "peak_share", "cpu_gflops", "cpu_peak_share")
        },  # fmt: skip
        "note": load_note(load_before, after),
    }


if __name__ == "__main__":
    sys.exit(main())
