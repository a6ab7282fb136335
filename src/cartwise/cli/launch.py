"""``cartwise train --nproc N``: the same command again under torchrun, N processes on this
machine (data-parallel training, see :mod:`cartwise.training.distributed`).

On several machines, run torchrun yourself on each of them with the same rendezvous::

    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d \\
        --rdzv-endpoint trainer-0.internal:29400 --rdzv-id shop-42 \\
        -m cartwise.cli train --model sasrec --store postgresql+psycopg://…
"""

from __future__ import annotations

import subprocess
import sys

from cartwise.errors import ConfigError


def torchrun_command(nproc: int, args: list[str]) -> list[str]:
    """The torchrun command line that runs ``cartwise <args>`` in `nproc` processes on this
    machine (a standalone rendezvous on a free local port)."""
    if nproc < 1:
        raise ConfigError(f"--nproc {nproc}: give the number of training processes, 1 or more")
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nproc-per-node", str(nproc), "-m", "cartwise.cli", *args,
    ]  # fmt: skip


def run_torchrun(nproc: int, args: list[str]) -> int:
    """Run ``cartwise <args>`` under torchrun in `nproc` processes; their exit status."""
    return subprocess.run(torchrun_command(nproc, args), check=False).returncode
