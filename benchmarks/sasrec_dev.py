"""Scratch runner to iterate on SASRec quality and speed on ML-1M / Beauty (not the benchmark).

    .venv/bin/python benchmarks/sasrec_dev.py ml-1m '{"epochs": 40, "learning_rate": 2e-3}'
    .venv/bin/python benchmarks/sasrec_dev.py beauty-bert4rec '{"max_len": 50}' --users 0.2

Prints per-epoch progress (logging), then train seconds, validation NDCG@10 / HR@10 and the
achieved GFLOP/s, and appends one JSON line to ``--out`` (default /tmp/sasrec_dev.jsonl).

A development run reports validation only, never the test targets: settings are chosen on
validation, and the test figure of the chosen setting comes once from ``benchmarks/quality.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import time

import numpy as np

from cartwise.data.dataset import Dataset
from cartwise.data.sources.public import load_dataset
from cartwise.data.split import leave_last_out
from cartwise.models.sasrec import SASRec


def _subset(data: Dataset, share: float, seed: int) -> Dataset:
    """Keep a random share of the users (their sequences become empty)."""
    keep = np.random.default_rng(seed).random(len(data.sequences)) < share
    empty = np.zeros(0, dtype=np.int64)
    return data.with_sequences(
        [s if k else empty for s, k in zip(data.sequences, keep, strict=True)]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", help="a folder name under ../shared/datasets, or a path")
    parser.add_argument("config", nargs="?", default="{}")
    parser.add_argument("--users", type=float, default=1.0, help="share of users to keep")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="/tmp/sasrec_dev.jsonl")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    data = load_dataset(args.dataset)
    if args.users < 1.0:
        data = _subset(data, args.users, args.seed)
    split = leave_last_out(data)
    config = json.loads(args.config)
    load = os.getloadavg()[0]
    began = time.perf_counter()
    model = SASRec(config).fit(split.train, rng=args.seed, valid=split.valid)
    seconds = time.perf_counter() - began
    valid = model.validation_metrics(split.valid)
    row = {
        "dataset": args.dataset,
        "users": args.users,
        "config": model.config.model_dump(mode="json"),
        "epochs": len(model.history_),
        "best_epoch": model.train_result_.best_epoch if model.train_result_ else None,
        "train_seconds": round(seconds, 1),
        "throughput": model.throughput_,
        "derived": model.derived_,
        "valid": valid,
        "load_at_start": load,
        "load_at_end": os.getloadavg()[0],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(json.dumps(row))
    with open(args.out, "a") as fh:
        fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
