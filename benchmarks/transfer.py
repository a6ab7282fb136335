"""Day-one recommendations: the text-only Transformer pretrained on other shops, on a new one.

    python benchmarks/transfer.py --pretrain                  # write the shipped weights
    python benchmarks/transfer.py amazon-scientific           # held-out measurement
    python benchmarks/transfer.py amazon-scientific --budget 300 --pretrain-budget 600
    python benchmarks/transfer.py amazon-scientific --dev --arms zero_shot,content

``--pretrain`` trains :class:`cartwise.models.transfer.Transfer` from scratch on the training
part (leave-one-out) of every public dataset with item text, *interleaved*: the datasets are
joined into one (their catalogs side by side), so every batch mixes their shoppers, for
``--pretrain-budget`` seconds per dataset in all, with early stopping on the joined validation
targets. (Trained one dataset after the other, each run starting from the previous one's
weights, the last dataset dominated.) The weights go to
``src/cartwise/models/pretrained/transfer-minilm`` (the package's builtin weights) with the
datasets, budgets, per-dataset validation NDCG@10 and commit in its ``config.json``.

A target name measures transfer to a shop the weights never saw: pretrain the same way on the
*other* text datasets (into a scratch folder), then on the target's leave-one-out split, full
ranking: ``popularity``; ``content`` (text similarity to the history); ``zero_shot`` (the
pretrained network over the target's catalog, no training on it); ``fine_tuned`` (trained on
the target from the pretrained weights within ``--budget`` seconds); and ``sasrec`` (id-only,
from scratch, the same budget, settings derived from the data). Validation figures are printed;
test NDCG@10/HR@10 of each go to ``benchmarks/results/transfer-<dataset>.json``.

``--dev`` is for development: it prints the *validation* figures only (the test users are never
scored), writes no result file and runs on an uncommitted tree; ``--arms`` picks the arms.
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

import numpy as np
from common import ROOT, git_commit, require_committed, write_result

from cartwise.data.dataset import Dataset, Vocabulary
from cartwise.data.sources.public import load_dataset
from cartwise.data.split import EvalSet, Split, leave_last_out
from cartwise.evaluation.experiment import ModelRun, run_model
from cartwise.evaluation.protocol import evaluate
from cartwise.models.fit import fit
from cartwise.models.transfer import BUILTIN, Transfer, save_pretrained

TEXT_DATASETS = ("amazon-scientific", "amazon-beauty-text", "ml-1m")
ARMS = ("popularity", "content", "zero_shot", "fine_tuned", "sasrec")
CACHE = ROOT / "var" / "text-vectors.db"  # encoded titles, shared across runs
_log = logging.getLogger("transfer")


def joined(splits: dict[str, Split]) -> tuple[Dataset, EvalSet, dict[str, slice]]:
    """The splits' training data as one dataset (catalogs and shoppers side by side, ids
    prefixed with the dataset's name), their validation sets as one, and each dataset's rows
    of that validation set."""
    users, items = Vocabulary(), Vocabulary()
    sequences: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    text: list[str] = [""]
    inputs: list[np.ndarray] = []
    targets: list[np.ndarray] = []
    valid_users: list[int] = []
    rows: dict[str, slice] = {}
    for name, split in splits.items():
        train, user_base, item_base = split.train, users.size, items.size
        for external in train.users.ids:
            users.add(f"{name}:{external}")
        for external in train.items.ids:
            items.add(f"{name}:{external}")
        sequences += [s + item_base for s in train.sequences[1:]]
        text += list(train.item_text[1:])
        rows[name] = slice(len(inputs), len(inputs) + len(split.valid))
        valid_users += [int(u) + user_base for u in split.valid.users]
        inputs += [i + item_base for i in split.valid.inputs]
        targets += [t + item_base for t in split.valid.targets]
    data = Dataset(users, items, sequences, item_text=text, name="+".join(splits))
    users_array = np.asarray(valid_users, dtype=np.int64)
    return data, EvalSet(users_array, inputs, targets), rows


def pretrain(datasets: list[str], budget: float, out: Path, seed: int = 0) -> dict[str, Any]:
    """Train the shared weights on `datasets` interleaved (`budget` seconds per dataset, in
    all) into `out`."""
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    data, valid, rows = joined({name: leave_last_out(load_dataset(name)) for name in datasets})
    config = {
        "pretrained": None,
        "time_budget": budget * len(datasets),
        "encoder_cache": str(CACHE),
        "loss": "sampled",
        "num_negatives": 2048,
        "progress": sys.stderr.isatty(),
    }
    started = time.perf_counter()
    model = Transfer(config).fit(data, valid=valid, rng=seed)
    best = max((h["metrics"].get("ndcg@10", 0.0) for h in model.history_), default=0.0)
    each = {name: model.validation_metrics(valid.subset(range(r.start, r.stop)))["ndcg@10"]
            for name, r in rows.items()}  # fmt: skip
    steps = [{"datasets": datasets, "interleaved": True, "epochs": len(model.history_),
              "valid_ndcg@10": best, "valid_ndcg@10_each": each,
              "text_scale": float(model._transfer_net.text_scale.detach()),
              "seconds": round(time.perf_counter() - started, 1)}]  # fmt: skip
    print(f"pretrain {'+'.join(datasets)}: {steps[-1]}", flush=True)
    about = {"datasets": steps, "git_commit": git_commit(), "budget_seconds": budget}
    save_pretrained(model, out, about)
    return {"steps": steps}


def arms_for(folder: Path, budget: float) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every arm's model name and config (`folder`: the pretrained weights)."""
    cache = {"encoder_cache": str(CACHE)}
    return {
        "popularity": ("popularity", {}),
        "content": ("content", cache),
        "zero_shot": ("transfer", {**cache, "pretrained": str(folder), "fine_tune": False}),
        "fine_tuned": ("transfer", {**cache, "pretrained": str(folder), "time_budget": budget}),
        "sasrec": ("sasrec", {"time_budget": budget}),
    }


def develop(target: str, arms: list[str], budget: float, pretrain_budget: float, seed: int) -> None:
    """Print the validation NDCG@10 of `arms` on `target` (never the test figures)."""
    others = [d for d in TEXT_DATASETS if d != target]
    folder = Path(tempfile.mkdtemp(prefix="transfer-")) / "weights"
    if {"zero_shot", "fine_tuned"} & set(arms):
        pretrain(others, pretrain_budget, folder, seed)
    split = leave_last_out(load_dataset(target))
    for arm, (model, config) in arms_for(folder, budget).items():
        if arm in arms:
            fitted = fit(model, config, split.train, valid=split.valid, rng=seed)
            valid = evaluate(fitted.model, split.valid).metrics
            print(f"dev {arm}: VALIDATION ndcg@10 {valid['ndcg@10']:.4f} "
                  f"hr@10 {valid['hr@10']:.4f} ({fitted.seconds:.0f} s)", flush=True)  # fmt: skip


def measure(target: str, budget: float, pretrain_budget: float, seed: int) -> Path:
    """Pretrain on the other text datasets, then every arm on the target's split."""
    others = [d for d in TEXT_DATASETS if d != target]
    folder = Path(tempfile.mkdtemp(prefix="transfer-")) / "weights"
    pretrained = pretrain(others, pretrain_budget, folder, seed)
    split = leave_last_out(load_dataset(target))
    runs: dict[str, ModelRun] = {}
    for arm, (model, config) in arms_for(folder, budget).items():
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
    parser.add_argument("--dev", action="store_true",
                        help="validation figures only, no result file (development)")  # fmt: skip
    parser.add_argument("--arms", default=",".join(ARMS),
                        help=f"with --dev: comma-separated arms of {', '.join(ARMS)}")  # fmt: skip
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.pretrain == (args.target is not None):
        parser.error("give either --pretrain or a target dataset")
    if args.dev:
        arms = [a for a in args.arms.split(",") if a]
        if args.target is None or not set(arms) <= set(ARMS):
            parser.error(f"--dev needs a target and arms among {', '.join(ARMS)}")
        develop(args.target, arms, args.budget, args.pretrain_budget, args.seed)
        return 0
    require_committed()
    if args.pretrain:
        pretrain(list(TEXT_DATASETS), args.pretrain_budget, BUILTIN, args.seed)
        subprocess.run(["git", "status", "--short", str(BUILTIN)], check=False)
        return 0
    print(f"wrote {measure(args.target, args.budget, args.pretrain_budget, args.seed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
