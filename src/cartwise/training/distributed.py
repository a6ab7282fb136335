"""Distributed data-parallel training under ``torchrun``: process group, ranks, device.

``torchrun`` starts one process per rank and sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE`` and the rendezvous address; :func:`init_from_env` opens the process group
from them (NCCL when CUDA is there, gloo on CPU). The training loop then wraps the network in
``DistributedDataParallel`` (gradients all-reduced every step), each rank trains on its share of
every batch (the batch sources shard by :func:`rank` / :func:`world`), and only rank 0 validates,
writes checkpoints and saves the model; its decisions (best epoch, early stop, budget) are
broadcast so every rank takes the same steps. Without torchrun everything here is a no-op:
rank 0 of a world of 1.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

_log = logging.getLogger(__name__)

_TIMEOUT = timedelta(minutes=30)  # rank 0 validates while the others wait at a collective
_ALONE: ContextVar[bool] = ContextVar("cartwise_train_alone", default=False)


def active() -> bool:
    """Whether a process group of more than one process is open (and this process is not
    training :func:`alone`)."""
    if _ALONE.get():
        return False
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


@contextmanager
def alone() -> Iterator[None]:
    """Train in this process only while inside (rank 0 fitting a model the other ranks do
    not, such as the activation gate's reference model): no DDP, no collectives."""
    token = _ALONE.set(True)
    try:
        yield
    finally:
        _ALONE.reset(token)


def world() -> int:
    """Processes training together (1 without torchrun)."""
    return dist.get_world_size() if active() else 1


def rank() -> int:
    """This process's rank (0 without torchrun)."""
    return dist.get_rank() if active() else 0


def is_main() -> bool:
    """Whether this process is rank 0: the one that validates, logs and writes."""
    return rank() == 0


def launched() -> bool:
    """Whether torchrun started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env() -> bool:
    """Open the process group torchrun describes (once); False when not under torchrun.

    NCCL with one GPU per local rank when CUDA is available, gloo otherwise.
    """
    if not launched() or not dist.is_available():
        return False
    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo", timeout=_TIMEOUT)
        _log.info("rank %d of %d (%s)", dist.get_rank(), dist.get_world_size(),
                  dist.get_backend())  # fmt: skip
    return True


@contextmanager
def process_group(*finishing: type[BaseException]) -> Iterator[bool]:
    """Open the process group torchrun describes for the block (yields whether one was
    opened) and close it after: collectively when the block finished, which includes leaving
    it with one of the `finishing` exceptions (a command's exit with a status), and without
    any collective after another exception (see :func:`shutdown`)."""
    opened = init_from_env()
    finished = False
    try:
        yield opened
        finished = True
    except finishing:
        finished = True
        raise
    finally:
        shutdown(finished=finished)


def shutdown(*, finished: bool = True) -> None:
    """Close the process group if this process opened one.

    After a `finished` run every rank first waits at a barrier for the others (rank 0 still
    validates and saves after the other ranks are done): a rank tearing gloo down while its
    peer still talks to it can abort at exit. After a failure nothing collective is attempted
    (it could hang on a peer that is gone): torchrun ends the other ranks.
    """
    if not (dist.is_available() and dist.is_initialized()) or not finished:
        return
    if dist.get_world_size() > 1:
        dist.barrier()
    dist.destroy_process_group()


def device(wanted: str = "auto") -> torch.device:
    """The device to train on: ``"auto"`` is this rank's GPU when CUDA is available, else the
    CPU; ``"cpu"`` and ``"cuda"`` force one (``"cuda"`` means this rank's GPU)."""
    if wanted == "cpu" or (wanted == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))


def threads_per_process(cores: int) -> int:
    """Torch threads of one of the processes torchrun started on this machine: the cores
    shared out between them (all of them without torchrun)."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if launched() else 1
    return max(1, cores // max(local, 1))


def broadcast(values: list[Any]) -> list[Any]:
    """Rank 0's `values` on every rank (picklable objects; unchanged without torchrun)."""
    if not active():
        return values
    box = list(values)
    dist.broadcast_object_list(box, src=0)
    return box


def all_sum(values: list[float]) -> list[float]:
    """Element-wise sum of `values` over the ranks (unchanged without torchrun)."""
    if not active():
        return values
    tensor = torch.tensor(values, dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return [float(v) for v in tensor.cpu()]


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside a DistributedDataParallel wrapper or a ``torch.compile`` module
    (`module` itself otherwise)."""
    if isinstance(module, DistributedDataParallel):
        module = module.module
    inner = getattr(module, "_orig_mod", module)  # torch.compile's OptimizedModule
    assert isinstance(inner, nn.Module)
    return inner
