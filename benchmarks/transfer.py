"""Day-one recommendations: the text-only Transformer pretrained on other shops, on a new one.

    python benchmarks/transfer.py --pretrain                  # write the shipped weights
    python benchmarks/transfer.py amazon-scientific           # held-out measurement
    python benchmarks/transfer.py amazon-scientific --budget 300 --pretrain-budget 600

``--pretrain`` trains :class:`cartwise.models.transfer.Transfer` from scratch on the training
part (leave-one-out; early stopping on each dataset's own validation targets) of every public
dataset with item text, one after the other, each run starting from the previous one's shared
weights, and writes them to ``src/cartwise/models/pretrained/transfer-minilm`` (the package's
builtin weights) with the datasets, budgets and commit in its ``config.json``.

A target name measures transfer to a shop the weights never saw: pretrain the same way on the
*other* text datasets (into a scratch folder), then on the target's leave-one-out split, full
ranking: ``popularity``; ``content`` (text similarity to the history); ``zero_shot`` (the
pretrained network over the target's catalog, no training on it); ``fine_tuned`` (trained on
the target from the pretrained weights within ``--budget`` seconds); and ``sasrec`` (id-only,
from scratch, the same budget, settings derived from the data). Validation figures are printed;
test NDCG@10/HR@10 of each go to ``benchmarks/results/transfer-<dataset>.json``.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, git_commit, require_committed, write_result

from cartwise.data.sources.public import load_dataset
from cartwise.data.split import leave_last_out
from cartwise.evaluation.experiment import ModelRun, run_model
from cartwise.models.transfer import BUILTIN, Transfer, save_pretrained

TEXT_DATASETS = ("amazon-scientific", "amazon-beauty-text", "ml-1m")
CACHE = ROOT / "var" / "text-vectors.db"  # encoded titles, shared across runs
_log = logging.getLogger("transfer")


def pretrain(datasets: list[str], budget: float, out: Path, seed: int = 0) -> dict[str, Any]:
    """Train the shared weights on `datasets` in turn (`budget` seconds each) into `out`."""
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    previous: str | None = None
    steps = []
    for name in datasets:
        split = leave_last_out(load_dataset(name))
        config = {
            "pretrained": previous,
            "time_budget": budget,
            "encoder_cache": str(CACHE),
            "loss": "sampled",
            "num_negatives": 2048,
            "progress": sys.stderr.isatty(),
        }
        started = time.perf_counter()
        model = Transfer(config).fit(split.train, valid=split.valid, rng=seed)
        best = max((h["metrics"].get("ndcg@10", 0.0) for h in model.history_), default=0.0)
        steps.append({"dataset": name, "epochs": len(model.history_), "valid_ndcg@10": best,
                      "seconds": round(time.perf_counter() - started, 1)})  # fmt: skip
        print(f"pretrain {name}: {steps[-1]}", flush=True)
        about = {"datasets": steps, "git_commit": git_commit(), "budget_seconds": budget}
        save_pretrained(model, out, about)
        previous = str(out)
    return {"steps": steps}


def measure(target: str, budget: float, pretrain_budget: float, seed: int) -> Path:
    """Pretrain on the other text datasets, then every arm on the target's split."""
    others = [d for d in TEXT_DATASETS if d != target]
    folder = Path(tempfile.mkdtemp(prefix="transfer-")) / "weights"
    pretrained = pretrain(others, pretrain_budget, folder, seed)
    split = leave_last_out(load_dataset(target))
    cache = {"encoder_cache": str(CACHE)}
    arms: dict[str, tuple[str, dict[str, Any]]] = {
        "popularity": ("popularity", {}),
        "content": ("content", cache),
        "zero_shot": ("transfer", {**cache, "pretrained": str(folder), "fine_tune": False}),
        "fine_tuned": ("transfer", {**cache, "pretrained": str(folder), "time_budget": budget}),
        "sasrec": ("sasrec", {"time_budget": budget}),
    }
    runs: dict[str, ModelRun] = {}
    for arm, (model, config) in arms.items():
        runs[arm] = run_model(model, split, config=config, rng=seed)
        print(f"{arm}: valid ndcg@10 {runs[arm].valid['ndcg@10']:.4f} "
              f"({runs[arm].train_seconds:.0f} s)", flush=True)  # fmt: skip
    metrics = {f"{arm}": run.test["ndcg@10"] for arm, run in runs.items()}
    metrics |= {f"{arm}_hr@10": run.test["hr@10"] for arm, run in runs.items()}
    metrics |= {f"{arm}_valid": run.valid["ndcg@10"] for arm, run in runs.items()}
    metrics |= {f"{arm}_seconds": round(run.train_seconds, 1) for arm, run in runs.items()}
    config_out = {"pretrained_on": others, "pretrain": pretrained, "budget_seconds": budget,
                  "pretrain_budget_seconds": pretrain_budget, "seed": seed,
                  "configs": {arm: run.config for arm, run in runs.items()}}  # fmt: skip
    seconds = sum(run.train_seconds for run in runs.values())
    return write_result("transfer", target, "transfer", metrics, config=config_out,
                        seconds=seconds, name=f"transfer-{target}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", choices=TEXT_DATASETS)
    parser.add_argument("--pretrain", action="store_true", help="write the builtin weights")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds per target fit")
    parser.add_argument("--pretrain-budget", type=float, default=300.0,
                        help="seconds per pretraining dataset")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.pretrain == (args.target is not None):
        parser.error("give either --pretrain or a target dataset")
    require_committed()
    if args.pretrain:
        pretrain(list(TEXT_DATASETS), args.pretrain_budget, BUILTIN, args.seed)
        subprocess.run(["git", "status", "--short", str(BUILTIN)], check=False)
        return 0
    print(f"wrote {measure(args.target, args.budget, args.pretrain_budget, args.seed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
