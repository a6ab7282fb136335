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
from typing import Any

from cartwise.errors import ConfigError


def train_args(
    model: str,
    seed: int,
    setting: list[str] | None,
    options: dict[str, Any],
    *,
    refit: bool | None = None,
    force: bool = False,
) -> list[str]:
    """The ``cartwise train`` arguments of a command, without ``--nproc``: the model, seed and
    ``--set`` pairs, the `options` given (``{"--out": path}``; None: not given), ``--refit`` or
    ``--no-refit`` when chosen, ``--force`` when set."""
    args = ["train", "--model", model, "--seed", str(seed)]
    args += [f"--set={s}" for s in setting or []]
    args += [f"{k}={v}" for k, v in options.items() if v is not None]
    if refit is not None:
        args.append("--refit" if refit else "--no-refit")
    return args + (["--force"] if force else [])


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
