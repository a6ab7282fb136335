"""Checkpoints of the training loop: the best epoch's model and the last epoch's full state.

Checkpoints live in one directory::

    checkpoint_dir/
      best -> best-0007/   what `export_best` wrote at the best epoch (a loadable model directory)
      last -> last-0009/   state.safetensors + state.json: weights, optimizer, RNG, loop state

Each version is written under a temporary name, renamed, and only then published by atomically
replacing the ``best`` / ``last`` symlink, so an interrupt (Ctrl-C) at any moment leaves the
previous checkpoint complete.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from cartwise.errors import ModelError

_log = logging.getLogger(__name__)


def save_best(
    root: Path, epoch: int, module: nn.Module, export: Callable[[Path], None] | None
) -> None:
    """Publish ``best``: `export` (a loadable model) or the module's weights."""
    weights = module.state_dict()

    def write(tmp: Path) -> None:
        if export is not None:
            export(tmp)
        else:
            save_file({k: v.contiguous() for k, v in weights.items()}, tmp / "weights.safetensors")

    publish(root, "best", epoch, write)


def save_last(
    root: Path,
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    meta: dict[str, Any],
    best: dict[str, torch.Tensor],
) -> None:
    """Publish ``last``: module, best and optimizer tensors, the torch RNG, and `meta` (loop
    state and history; ``meta["state"]["epoch"]`` names the version)."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    tensors.update({f"best.{k}": v.detach().cpu().contiguous() for k, v in best.items()})
    opt_state = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in opt_state["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"optim.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    tensors["rng.torch"] = torch.get_rng_state()
    full = {**meta, "param_groups": opt_state["param_groups"], "optim_scalars": scalars}

    def write(tmp: Path) -> None:
        save_file(tensors, tmp / "state.safetensors")
        (tmp / "state.json").write_text(json.dumps(full))

    publish(root, "last", int(meta["state"]["epoch"]), write)


def publish(root: Path, name: str, epoch: int, write: Callable[[Path], None]) -> None:
    """Write a version into a temporary folder, rename it, then swap the `name` symlink."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{name}-{epoch:04d}"
    tmp = root / f".tmp-{final.name}"
    for stale in (tmp, final):
        if stale.exists():
            shutil.rmtree(stale)
    tmp.mkdir()
    write(tmp)
    os.replace(tmp, final)
    link_tmp = root / f".tmp-{name}-link"
    if link_tmp.is_symlink():
        link_tmp.unlink()
    link_tmp.symlink_to(final.name)
    os.replace(link_tmp, root / name)  # atomic: readers see the old or the new version
    for old in root.glob(f"{name}-*"):
        if old != final and old.is_dir():
            shutil.rmtree(old)


def load_last(
    root: Path, module: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
    """Load ``last`` into the module, optimizer and torch RNG; return its meta (loop state and
    history) and the best weights, or None when there is no checkpoint."""
    last = root / "last"
    if not last.is_dir():
        _log.info("no checkpoint at %s; starting from scratch", last)
        return None
    tensors = load_file(str(last / "state.safetensors"))
    meta = json.loads((last / "state.json").read_text())
    model = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        module.load_state_dict(model)
    except RuntimeError as exc:
        raise ModelError(
            f"{last}: the checkpoint does not fit this model ({exc}); "
            "use a new checkpoint_dir or the same configuration"
        ) from exc
    opt_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            opt_state.setdefault(int(pid), {})[name] = value
    for pid, extra in meta["optim_scalars"].items():
        opt_state.setdefault(int(pid), {}).update(extra)
    optimizer.load_state_dict({"state": opt_state, "param_groups": meta["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    best = {k[len("best.") :]: v for k, v in tensors.items() if k.startswith("best.")}
    return meta, best
