"""Training: the one torch loop and what it needs.

:mod:`~cartwise.training.loop` (the loop), :mod:`~cartwise.training.budget` (wall-clock
budget), :mod:`~cartwise.training.throughput` (GFLOP/s against the measured matmul peak),
:mod:`~cartwise.training.checkpoints`, :mod:`~cartwise.training.distributed` (torchrun / DDP).
"""

from cartwise.training.budget import Budget, parse_duration
from cartwise.training.loop import (
    BatchSource,
    EpochRecord,
    TrainResult,
    TrainSettings,
    lr_factor,
    lr_factor_steps,
    train,
)
from cartwise.training.throughput import Peak, Throughput, matmul_peak_gflops, measure_peak

__all__ = [
    "BatchSource",
    "Budget",
    "EpochRecord",
    "Throughput",
    "TrainResult",
    "TrainSettings",
    "lr_factor",
    "lr_factor_steps",
    "matmul_peak_gflops",
    "measure_peak",
    "Peak",
    "parse_duration",
    "train",
]
