"""Data-parallel SASRec training on one machine: 1 process against 2 (torchrun, gloo).

    python benchmarks/ddp.py                    # ML-1M preset, 3 epochs each
    python benchmarks/ddp.py --epochs 5
    python benchmarks/ddp.py --dataset ml-100k --epochs 1 --out /tmp/trial   # a trial

Each run is ``torchrun --standalone --nproc-per-node N`` over this script's worker, which trains
the ML-1M preset for a fixed number of epochs (no early stopping, so both runs take the same
steps) with the global batch of the single process split between the ranks, and validates on
rank 0. Reported per run: training samples (sequences) per second over the training steps,
the validation NDCG@10 after the last epoch, the threads per process and the load average.
With 2 cores, 2 processes of one thread each do the work one process does with two threads,
plus an all-reduce per step: expect no speed-up here; the point is that the result matches.
Writes ``benchmarks/results/ddp-ml-1m-sasrec.json`` (a trial: ``--out DIR``). On a CUDA machine
each rank trains on its own GPU (NCCL) in bf16: the record names the device.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import require_committed, write_result

DATASET = "ml-1m"


def worker(dataset: str, epochs: int, out: Path) -> None:
    """One rank: train the preset for `epochs`; rank 0 writes its figures to `out`."""
    from cartwise.data.sources.public import load_dataset
    from cartwise.data.split import leave_last_out
    from cartwise.evaluation.experiment import preset
    from cartwise.models.sasrec import SASRec
    from cartwise.training import distributed

    with distributed.process_group():
        split = leave_last_out(load_dataset(dataset))
        config = {**preset(dataset, "sasrec"), "epochs": epochs, "patience": None}
        model = SASRec(config).fit(split.train, rng=0, valid=split.valid)
        if distributed.is_main():
            result = model.train_result_
            assert result is not None
            windows = sum(len(s) >= 2 for s in split.train.sequences)  # one per shopper
            seconds = sum(r.train_seconds for r in result.history)
            figures = {
                "processes": distributed.world(),
                "samples_per_s": windows * epochs / seconds,
                "valid_ndcg@10": result.history[-1].metrics["ndcg@10"],
                "threads_per_process": distributed.threads_per_process(os.cpu_count() or 1),
                "step_seconds": seconds, "throughput": model.throughput_,
                "load_avg": os.getloadavg()[0],
            }  # fmt: skip
            out.write_text(json.dumps(figures))


def device() -> str:
    """The device the workers train on, in words."""
    import torch

    if torch.cuda.is_available():
        return f"cuda (NCCL, bf16): {torch.cuda.get_device_name(0)}"
    return "cpu (gloo); no GPU on this machine"


def run(dataset: str, nproc: int, epochs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc-per-node", str(nproc), __file__, "--worker", "--dataset", dataset,
            "--epochs", str(epochs), "--out", str(out),
        ]  # fmt: skip
        subprocess.run(cmd, check=True)
        figures: dict[str, Any] = json.loads(out.read_text())
        return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--dataset", default=DATASET, help="a trial's dataset (needs --out)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help="write the record here (a trial), not results/")
    args = parser.parse_args()
    if args.worker:
        worker(args.dataset, args.epochs, args.out)
        return 0
    if args.dataset != DATASET and args.out is None:
        parser.error(f"--dataset {args.dataset} makes a trial: give --out DIR")
    if args.out is None:
        require_committed()
    load = os.getloadavg()[0]
    runs = {n: run(args.dataset, n, args.epochs) for n in (1, 2)}
    metrics: dict[str, Any] = {"epochs": args.epochs, "load_avg_before": round(load, 1)}
    for n, f in runs.items():
        metrics[f"samples_per_s_{n}proc"] = round(f["samples_per_s"], 1)
        metrics[f"valid_ndcg@10_{n}proc"] = round(f["valid_ndcg@10"], 4)
        metrics[f"gflops_{n}proc"] = f["throughput"].get("gflops")
        metrics[f"peak_gflops_{n}proc"] = f["throughput"].get("peak_gflops")
        metrics[f"threads_per_process_{n}proc"] = f["threads_per_process"]
        metrics[f"load_avg_after_{n}proc"] = round(f["load_avg"], 1)
    metrics["speedup_2proc"] = round(runs[2]["samples_per_s"] / runs[1]["samples_per_s"], 3)
    metrics["device"] = device()
    path = write_result("ddp", args.dataset, "sasrec", metrics, config={"preset": args.dataset,
                        "epochs": args.epochs, "patience": None}, folder=args.out,
                        seconds=sum(f["step_seconds"] for f in runs.values()))  # fmt: skip
    print(json.dumps(metrics, indent=1), "->", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
