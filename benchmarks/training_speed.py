"""Training throughput of SASRec on ML-1M, one variant per process, back to back.

    python benchmarks/training_speed.py                      # every variant, twice, alternating
    python benchmarks/training_speed.py --variants baseline,passive --rounds 3

Each variant trains the ML-1M preset (leave-one-out training split) for the first ``--batches``
batches of epoch 1 through the real loop (:func:`cartwise.training.train`), after a short
warm-up, and reports what the loop measures: GFLOP/s per wall second and per CPU second, and
the bf16 matmul peak measured in the same process. On a shared machine the wall figures move
with the neighbours' load (recorded before and after each run): compare variants measured back
to back, not across sessions. Rows are appended to
``benchmarks/results/training-speed-ml-1m.jsonl``; the Markdown table next to it is rendered
from all rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from itertools import islice
from typing import Any

from common import RESULTS, cores, git_commit, require_committed

#: variant → (environment, SASRec settings, script options)
VARIANTS: dict[str, tuple[dict[str, str], dict[str, Any], dict[str, Any]]] = {
    "baseline": ({"OMP_WAIT_POLICY": "ACTIVE"}, {}, {}),  # what the loop did before
    "passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, {}, {}),
    "passive-1thread": ({"OMP_WAIT_POLICY": "PASSIVE"}, {"num_threads": 1}, {}),
    "fused-attention": ({"OMP_WAIT_POLICY": "PASSIVE"}, {"fused_attention": True}, {}),
    "batch-256": ({"OMP_WAIT_POLICY": "PASSIVE"}, {"batch_size": 256}, {}),
    "batch-512": ({"OMP_WAIT_POLICY": "PASSIVE"}, {"batch_size": 512}, {}),
    "chunk-4mb": ({"OMP_WAIT_POLICY": "PASSIVE"}, {}, {"chunk_bytes": 4 << 20}),
    "compile": ({"OMP_WAIT_POLICY": "PASSIVE"}, {}, {"compile": True}),
    # the sampled softmax (4,096 negatives) as it was, on float32 logits, and chunked
    "sampled-float32": ({"OMP_WAIT_POLICY": "PASSIVE"}, {"loss": "sampled"}, {"reference": True}),
    "sampled-chunked": ({"OMP_WAIT_POLICY": "PASSIVE"}, {"loss": "sampled"}, {}),
    # a wider model: matmuls with an inner size of 64 cannot approach a 2048² matmul's rate
    "emb-128": ({"OMP_WAIT_POLICY": "PASSIVE"}, {"embedding_size": 128}, {}),
    "emb-256": ({"OMP_WAIT_POLICY": "PASSIVE"}, {"embedding_size": 256}, {}),
}
JSONL = RESULTS / "training-speed-ml-1m.jsonl"
TABLE = RESULTS / "training-speed-ml-1m.md"
SEQUENCES = 128 * 48  # the sequences one run trains on (one ML-1M epoch at batch 128)


def reference_sampled(
    hidden: Any, table: Any, targets: Any, negatives: Any, weights: Any = None
) -> Any:
    """The sampled softmax before it was chunked: float32 logits through F.cross_entropy."""
    import torch
    import torch.nn.functional as F

    pos = (hidden * table[targets]).sum(-1, keepdim=True)  # (N, 1)
    neg = hidden @ table[negatives].t()  # (N, M)
    neg = neg.masked_fill(negatives[None, :] == targets[:, None], float("-inf"))  # (N, M)
    logits = torch.cat([pos, neg], dim=1).float()  # (N, 1 + M)
    return F.cross_entropy(logits, torch.zeros_like(targets))


class FirstBatches:
    """The first `n` batches of epoch 0 of `source`, as a one-epoch source."""

    def __init__(self, source: Any, n: int) -> None:
        self.source, self.n = source, n

    def __len__(self) -> int:
        return self.n

    def epoch(self, index: int) -> Iterator[Any]:
        return islice(self.source.epoch(0), self.n)


def measure(name: str, sequences: int) -> dict[str, Any]:
    """Run variant `name` in this process (its environment already set)."""
    import torch

    from cartwise.data.sources.public import load_dataset
    from cartwise.data.split import leave_last_out
    from cartwise.evaluation.experiment import preset
    from cartwise.models import sasrec, sasrec_losses
    from cartwise.models.sasrec import SASRec
    from cartwise.models.sasrec_scoring import threads
    from cartwise.training import TrainSettings, train

    _, settings, options = VARIANTS[name]
    if "chunk_bytes" in options:
        sasrec_losses._CHUNK_BYTES = options["chunk_bytes"]
    if options.get("reference"):
        sasrec.sampled_cross_entropy = reference_sampled
    data = leave_last_out(load_dataset("ml-1m")).train
    model = SASRec({**preset("ml-1m", "sasrec"), **settings})
    model.items_ = data.items
    cfg = model.config
    source = model._batches(data, seed=0)
    torch.manual_seed(0)
    net = model._new_net(data.n_items)
    runner = torch.compile(net, dynamic=True) if options.get("compile") else net

    def loss(_: torch.nn.Module, batch: Any) -> torch.Tensor:
        return model._loss(runner, batch)

    batches = max(1, sequences // cfg.batch_size)
    with threads(cfg.num_threads):
        warm = TrainSettings(epochs=1, learning_rate=cfg.learning_rate, bf16=True)
        train(net, FirstBatches(source, 3), loss, warm)  # kernels chosen, caches warm
        load = os.getloadavg()[0]
        began = time.perf_counter()
        s = TrainSettings(epochs=1, learning_rate=cfg.learning_rate, bf16=True)
        result = train(net, FirstBatches(source, batches), loss, s, flops=model._flops)
        thread_count = torch.get_num_threads()
    assert result.throughput is not None
    return {
        "variant": name, "batches": batches, "batch_size": cfg.batch_size,
        "threads": thread_count, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "wall_seconds": round(time.perf_counter() - began, 1), **result.throughput.to_dict(),
        "load_before": round(load, 1), "load_after": round(os.getloadavg()[0], 1),
    }  # fmt: skip


def render() -> str:
    rows = [json.loads(line) for line in JSONL.read_text().splitlines() if line.strip()]
    head = (
        "# SASRec training throughput on ML-1M (`benchmarks/training_speed.py`)\n\n"
        "Rendered from `training-speed-ml-1m.jsonl` (every run, in order). Each row trains "
        f"{SEQUENCES:,} sequences (one ML-1M epoch at batch 128) of the ML-1M preset after a "
        "3-batch warm-up; `share` = GFLOP/s ÷ the bf16 matmul peak measured in the same "
        "process, per wall second and per CPU second (× threads). The machine is shared: "
        "compare rows of one session (same `commit`, run back to back).\n\n"
        "| session | variant | threads | GFLOP/s | peak | share | CPU GFLOP/s | CPU peak | "
        "CPU share | wall s | load before→after |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    body = "".join(
        f"| {r['session']} | {r['variant']} | {r['threads']} | {r['gflops']:.0f} | "
        f"{r['peak_gflops']:.0f} | {r['peak_share']:.0%} | {r['cpu_gflops']:.0f} | "
        f"{r['peak_cpu_gflops']:.0f} | {r['cpu_peak_share']:.0%} | {r['wall_seconds']:.0f} | "
        f"{r['load_before']:.0f}→{r['load_after']:.0f} |\n"
        for r in rows
    )
    return head + body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sequences", type=int, default=SEQUENCES)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker, args.sequences)))
        return 0
    commit = require_committed()
    session = f"{commit[:8]} {time.strftime('%Y-%m-%d %H:%M')}"
    names = [n for n in args.variants.split(",") if n]
    for _ in range(args.rounds):
        for name in names:  # alternating, so a change of load hits every variant alike
            env = {**os.environ, **VARIANTS[name][0]}
            cmd = [sys.executable, __file__, "--worker", name, "--sequences", str(args.sequences)]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if done.returncode:
                print(f"{name} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
                continue
            row = {"session": session, "git_commit": git_commit(), "cores": cores(),
                   **json.loads(done.stdout.strip().splitlines()[-1])}  # fmt: skip
            print(json.dumps(row), flush=True)
            with JSONL.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            TABLE.write_text(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
