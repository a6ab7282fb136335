"""Throughput: the measured matmul peak (cached per process), and a run's GFLOP/s and share of
that peak computed from the loop's FLOP counts and step seconds (on a fake clock)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from cartwise.training import Throughput, TrainSettings, matmul_peak_gflops, measure_peak, train
from cartwise.training.throughput import _measure

Batch = tuple[torch.Tensor, torch.Tensor]


def test_the_peak_is_measured_once_per_process_and_thread_count() -> None:
    first = measure_peak()
    hits = _measure.cache_info().hits
    assert first.wall > 0 and first.cpu > 0
    assert matmul_peak_gflops() == first.wall
    assert _measure.cache_info().hits == hits + 1


def test_throughput_figures() -> None:
    t = Throughput(gflop=300.0, seconds=2.0, peak_gflops=400.0, cpu_seconds=1.5,
                   peak_cpu_gflops=500.0)  # fmt: skip
    assert t.gflops == 150.0 and t.peak_share == 0.375
    assert t.cpu_gflops == 200.0 and t.cpu_peak_share == 0.4
    assert t.to_dict() == {
        "gflops": 150.0, "peak_gflops": 400.0, "peak_share": 0.375, "cpu_gflops": 200.0,
        "peak_cpu_gflops": 500.0, "cpu_peak_share": 0.4, "gflop": 300.0, "step_seconds": 2.0,
    }  # fmt: skip
    assert Throughput(1.0, 0.0, 0.0).gflops == 0.0 == Throughput(1.0, 1.0, 0.0).peak_share


class Clocked:
    """3 batches per epoch; each costs one fake second and counts 2 GFLOP."""

    def __init__(self) -> None:
        self.now = 0.0
        self.x = torch.randn(24, 3, generator=torch.Generator().manual_seed(0))

    def __call__(self) -> float:
        return self.now

    def __len__(self) -> int:
        return 3

    def epoch(self, index: int) -> Iterator[Batch]:
        for k in range(3):
            rows = self.x[8 * k : 8 * (k + 1)]
            yield rows, rows.sum(1)

    def loss(self, module: nn.Module, batch: Batch) -> torch.Tensor:
        self.now += 1.0
        return ((module(batch[0]).squeeze(-1) - batch[1]) ** 2).mean()

    def validate(self, _: nn.Module) -> dict[str, float]:
        self.now += 5.0  # validation time is not training throughput
        return {"ndcg@10": 0.5}


def test_a_run_reports_gflops_over_step_seconds_and_the_share_of_the_peak() -> None:
    src = Clocked()
    settings = TrainSettings(epochs=2, learning_rate=0.01, clock=src)
    result = train(
        nn.Linear(3, 1), src, src.loss, settings, validate=src.validate, flops=lambda _: 2e9
    )
    t = result.throughput
    assert t is not None
    assert t.gflop == pytest.approx(12.0) and t.seconds == pytest.approx(6.0)
    assert t.gflops == pytest.approx(2.0)
    f32 = torch.float32  # the dtype this run trains in (bf16 off)
    assert t.peak_gflops == matmul_peak_gflops(dtype=f32)
    assert t.peak_share == pytest.approx(2.0 / matmul_peak_gflops(dtype=f32))
    assert [r.train_seconds for r in result.history] == [3.0, 3.0]
    assert t.peak_cpu_gflops == measure_peak(dtype=f32).cpu and t.cpu_seconds > 0
    assert [r.seconds for r in result.history] == [8.0, 8.0]


def test_bf16_is_turned_off_where_it_does_not_pay(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU without native bf16 (emulated: ~100x slower than float32) trains in float32 and
    its peak is measured in float32."""
    import cartwise.training.loop as loop

    seen: list[bool] = []
    monkeypatch.setattr(loop, "bf16_pays", lambda device: False)
    src = Clocked()

    def loss(module: nn.Module, batch: Batch) -> torch.Tensor:
        seen.append(torch.is_autocast_enabled("cpu"))
        return src.loss(module, batch)

    settings = TrainSettings(epochs=1, learning_rate=0.01, clock=src, bf16=True)
    result = train(nn.Linear(3, 1), src, loss, settings, validate=src.validate, flops=lambda _: 1)
    assert seen and not any(seen)
    assert result.throughput is not None
    assert result.throughput.peak_gflops == matmul_peak_gflops(dtype=torch.float32)
