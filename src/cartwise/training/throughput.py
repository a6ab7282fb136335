"""Training throughput: achieved GFLOP/s against the machine's measured matmul peak.

A slow configuration is visible only against what the machine can do, and on a shared machine
that changes from minute to minute: so the peak is measured in the process that trains, just
before it trains (:func:`measure_peak`, a short square matmul benchmark, cached per process,
device, dtype and thread count), and every run reports its achieved rate and the share of that
peak (:class:`Throughput`).

Both are measured twice: per wall second (what the run got) and per CPU second of the
process times its threads (what it would get with its cores to itself). On an idle machine the
two agree; on a shared one the wall figures fall with the neighbours' load and the CPU figures
show the code's own efficiency (they are conservative: threads waiting for work at the end of
an operation count as busy).
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

import torch

_log = logging.getLogger(__name__)

#: Square size of the peak benchmark. Measured on the 2-core AVX-512 machine (bf16, 2 threads):
#: 512² reaches 10-60 GFLOP/s (fixed costs per call dominate), 1024² 80-130, 2048² 120-160 under
#: load 10 and 340-410 idle; larger sizes add nothing but seconds.
CPU_SIZE = 2048
CUDA_SIZE = 8192
_REPEATS = 5  # timed rounds; the best one is the peak (the others lost cores to neighbours)
_ROUND_SECONDS = 0.1


@dataclass(frozen=True)
class Peak:
    """The best matmul rate in GFLOP/s: per wall second, and per CPU second × threads."""

    wall: float
    cpu: float


_START_SIZE = 256
_MAX_CALL_SECONDS = 0.05  # the size stops doubling once one call takes this long


def _operands(size: int, device: str, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=gen).to(device=device, dtype=dtype)
    return a, b, torch.empty(size, size, device=device, dtype=dtype)


def _one_call(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor, cuda: bool) -> float:
    began = time.perf_counter()
    torch.mm(a, b, out=out)
    if cuda:
        torch.cuda.synchronize(out.device)
    return time.perf_counter() - began


@functools.cache
def _measure(device: str, dtype: torch.dtype, threads: int) -> Peak:
    # The size doubles from 256 up to the device's size while a call stays short: a dtype this
    # CPU only emulates (bf16 without AVX-512 BF16/AMX is ~100x slower than float32) would
    # otherwise cost minutes per measurement instead of about a second.
    cuda = device.startswith("cuda")
    largest = CUDA_SIZE if cuda else CPU_SIZE
    size = min(_START_SIZE, largest)
    a, b, out = _operands(size, device, dtype)
    _one_call(a, b, out, cuda)  # warm-up: kernel selection, page faults
    while size < largest and _one_call(a, b, out, cuda) < _MAX_CALL_SECONDS:
        size *= 2
        a, b, out = _operands(size, device, dtype)
        _one_call(a, b, out, cuda)
    wall, cpu = 0.0, 0.0
    for _ in range(_REPEATS):
        calls, began, cpu_began = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - began < _ROUND_SECONDS:
            torch.mm(a, b, out=out)
            calls += 1
            if cuda:
                torch.cuda.synchronize(device)
        gflop = 2.0 * size**3 * calls / 1e9
        wall = max(wall, gflop / (time.perf_counter() - began))
        cpu_seconds = (time.process_time() - cpu_began) / (1 if cuda else threads)
        cpu = max(cpu, gflop / max(cpu_seconds, 1e-9))
    _log.debug("%s %s matmul peak, %d threads: %.0f GFLOP/s (wall), %.0f (CPU)", device,
               dtype, threads, wall, cpu)  # fmt: skip
    return Peak(wall, cpu)


def measure_peak(device: str | torch.device = "cpu", dtype: torch.dtype = torch.bfloat16) -> Peak:
    """The best rate of a square `dtype` matmul on `device` with the current torch thread
    count, measured once per process (about half a second) and cached."""
    return _measure(str(device), dtype, torch.get_num_threads())


@functools.cache
def bf16_pays(device: str | torch.device = "cpu") -> bool:
    """Whether bfloat16 autocast is worth it on `device`: always on CUDA; on a CPU only when
    its bf16 matmul is at least as fast as float32 (AVX-512 BF16 or AMX; without them bf16 is
    emulated and training under it runs many times slower)."""
    name = str(device)
    if name.startswith("cuda"):
        return True
    return measure_peak(name, torch.bfloat16).wall >= measure_peak(name, torch.float32).wall


def matmul_peak_gflops(
    device: str | torch.device = "cpu", dtype: torch.dtype = torch.bfloat16
) -> float:
    """:func:`measure_peak`'s wall-clock GFLOP/s."""
    return measure_peak(device, dtype).wall


@dataclass(frozen=True)
class Throughput:
    """What a training run achieved.

    Attributes:
        gflop: estimated forward + backward GFLOP of every training step.
        seconds: wall seconds of those steps (validation and checkpoints excluded).
        peak_gflops: the matmul peak measured in the same run (wall), in the dtype trained in.
        cpu_seconds: CPU seconds of those steps divided by the torch threads (0: unknown).
        peak_cpu_gflops: the peak per CPU second × threads.
    """

    gflop: float
    seconds: float
    peak_gflops: float
    cpu_seconds: float = 0.0
    peak_cpu_gflops: float = 0.0

    @property
    def gflops(self) -> float:
        """Achieved GFLOP/s: ``gflop / seconds``."""
        return self.gflop / self.seconds if self.seconds > 0 else 0.0

    @property
    def peak_share(self) -> float:
        """Achieved share of the measured peak: ``gflops / peak_gflops``."""
        return self.gflops / self.peak_gflops if self.peak_gflops > 0 else 0.0

    @property
    def cpu_gflops(self) -> float:
        """GFLOP per CPU second per thread: ``gflop / cpu_seconds``."""
        return self.gflop / self.cpu_seconds if self.cpu_seconds > 0 else 0.0

    @property
    def cpu_peak_share(self) -> float:
        """``cpu_gflops / peak_cpu_gflops``: the share with the cores to itself."""
        return self.cpu_gflops / self.peak_cpu_gflops if self.peak_cpu_gflops > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures, to 4 significant digits."""
        return {
            "gflops": _sig(self.gflops),
            "peak_gflops": _sig(self.peak_gflops),
            "peak_share": _sig(self.peak_share),
            "cpu_gflops": _sig(self.cpu_gflops),
            "peak_cpu_gflops": _sig(self.peak_cpu_gflops),
            "cpu_peak_share": _sig(self.cpu_peak_share),
            "gflop": _sig(self.gflop),
            "step_seconds": _sig(self.seconds),
        }


def _sig(x: float) -> float:
    return float(f"{x:.4g}")
