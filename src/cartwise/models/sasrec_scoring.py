"""Scoring helpers of the SASRec family: padding, length groups, protocol ranks, threads."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from cartwise.training.distributed import threads_per_process


def padded(rows: Sequence[np.ndarray], width: int) -> torch.Tensor:
    """Right-padded (B, width) int64 tensor of the rows."""
    out = torch.zeros((len(rows), width), dtype=torch.long)
    for row, values in enumerate(rows):
        out[row, : len(values)] = torch.from_numpy(np.asarray(values, dtype=np.int64))
    return out


def length_groups(lengths: np.ndarray, most: int) -> list[np.ndarray]:
    """Indices of the non-empty windows, shortest first, cut into groups of at most `most`
    whose longest window is at most twice their shortest (padding stays under half)."""
    warm = np.flatnonzero(lengths)
    order = warm[np.argsort(lengths[warm], kind="stable")]
    groups: list[np.ndarray] = []
    start = 0
    for end in range(1, len(order) + 1):
        if (
            end == len(order)
            or end - start == most
            or lengths[order[end]] > 2 * lengths[order[start]]
        ):
            groups.append(order[start:end])
            start = end
    return groups


def protocol_ranks(
    scores: torch.Tensor, seen: Sequence[np.ndarray], targets: torch.Tensor
) -> torch.Tensor:
    """Pessimistic 0-based ranks, as metrics.ranks: ``|{j ∉ seen, j ≥ 1 : s_j ≥ s_target}| − 1``,
    ``n_items`` when the target was seen. Masks `scores` in place."""
    rows = torch.arange(len(seen))
    lengths = torch.tensor([len(h) for h in seen])
    scores[:, 0] = -torch.inf
    if int(lengths.sum()):
        cols = torch.from_numpy(np.concatenate(seen).astype(np.int64))
        scores[torch.repeat_interleave(rows, lengths), cols] = -torch.inf
    target = scores[rows, targets]  # (B,)
    ranks = (scores >= target[:, None]).sum(dim=1) - 1
    ranks[torch.isinf(target)] = scores.shape[1] - 1
    return ranks


@contextmanager
def scoring(net: nn.Module, num_threads: int | None) -> Iterator[None]:
    """Eval mode, no autograd and the configured threads; the mode is restored after.

    Unconfigured, scoring keeps the calling thread's torch threads when they are fewer than
    the cores: a server pins its scoring thread to one (see :mod:`cartwise.ranking.scorer`),
    and switching the thread count on every call costs more than a small forward pass.
    """
    was_training = net.training
    if was_training:  # switching walks every module: skip it for a loaded (eval) network
        net.eval()
    try:
        with threads(num_threads, lower_only=True), torch.no_grad():
            yield
    finally:
        if was_training:
            net.train()


@contextmanager
def threads(n: int | None, *, lower_only: bool = False) -> Iterator[None]:
    """Use `n` torch threads (default: the cores this process may run on, shared out between
    the processes torchrun started on this machine, or with `lower_only` the current count if
    that is lower), then restore."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    wanted = n or threads_per_process(cores or 1)
    if n is None and lower_only:
        wanted = min(wanted, torch.get_num_threads())
    before = torch.get_num_threads()
    if wanted != before:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if wanted != before:
            torch.set_num_threads(before)
