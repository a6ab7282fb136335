"""The time budget: durations, epochs planned after the first, the schedule spanning them, and
training that ends before the budget does, all on a fake clock (no timing is asserted)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from cartwise.errors import ConfigError
from cartwise.training import Budget, TrainSettings, parse_duration, train

Batch = tuple[torch.Tensor, torch.Tensor]


class FakeClock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Regression:
    """4 batches of a linear regression; every batch costs `per_batch` fake seconds."""

    def __init__(self, clock: FakeClock, per_batch: float = 1.0) -> None:
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(32, 3, generator=gen)
        self.y = self.x @ torch.tensor([1.0, -2.0, 3.0])
        self.clock, self.per_batch = clock, per_batch

    def __len__(self) -> int:
        return 4

    def epoch(self, index: int) -> Iterator[Batch]:
        for k in range(4):
            yield self.x[8 * k : 8 * (k + 1)], self.y[8 * k : 8 * (k + 1)]

    def loss(self, module: nn.Module, batch: Batch) -> torch.Tensor:
        self.clock.now += self.per_batch
        x, y = batch
        return ((module(x).squeeze(-1) - y) ** 2).mean()


def test_durations() -> None:
    assert parse_duration("20m") == 1200.0
    assert parse_duration("90s") == 90.0
    assert parse_duration("1.5h") == 5400.0
    assert parse_duration("1h30m") == 5400.0
    assert parse_duration(" 45 ") == 45.0
    assert parse_duration(600) == 600.0
    for bad in ("", "20 minutes", "m", "-5m", "0", "1x"):
        with pytest.raises(ConfigError, match="time budget"):
            parse_duration(bad)


def test_budget_plans_from_the_median_recent_epoch() -> None:
    clock = FakeClock()
    budget = Budget(100.0, clock)
    assert budget.epochs_that_fit(0) == 0  # nothing timed yet
    clock.now += 10.0
    budget.record(10.0, 2.0)
    # 90 s left, an epoch takes 10 s + 5 %: 8 more
    assert budget.epochs_that_fit(1) == 1 + 8
    assert budget.reserve() == pytest.approx(2.1)
    clock.now += 20.0
    budget.record(20.0, 1.0)  # the machine slowed down: 70 s left at median(10, 20) + 5 %
    assert budget.epochs_that_fit(2) == 2 + 4
    budget.record(20.0, 1.0)  # and stays slow: the median is 20 s
    assert budget.epochs_that_fit(3) == 3 + 3
    assert budget.another_batch(60.0, validates=True)
    assert not budget.another_batch(68.0, validates=True)  # 68 × 1.05 + 2.1 > 70


def test_schedule_spans_the_epochs_the_budget_allows_and_ends_in_it() -> None:
    clock = FakeClock()
    lrs: list[float] = []
    source = Regression(clock)
    torch.manual_seed(0)
    module = nn.Linear(3, 1)

    def loss(m: nn.Module, b: Batch) -> torch.Tensor:
        return source.loss(m, b)

    def validate(_: nn.Module) -> dict[str, float]:
        clock.now += 2.0
        return {"ndcg@10": float(clock.now)}  # always improving

    settings = TrainSettings(
        epochs=100, learning_rate=0.1, warmup=0.05, time_budget=40.0, clock=clock,
        started=clock(),
    )  # fmt: skip
    result = train(module, source, loss, settings, validate=validate,
                   on_epoch_end=[lambda r: lrs.append(r.lr)])  # fmt: skip
    # an epoch is 4 batches (4 s) + validation (2 s) = 6 s: after the first, 34 s are left,
    # which hold floor(34 / 6.3) = 5 more epochs
    assert result.planned_epochs == 6
    assert len(result.history) == 6 and result.stopped_by_budget
    assert clock.now - 1000.0 <= 40.0
    assert lrs[-1] < 0.1 * 0.02  # the cosine reached (almost) zero at the planned end
    assert 0.1 * 0.3 < lrs[2] < 0.1 * 0.8  # half-way through the plan, half-way down


def test_a_slowdown_cuts_the_epoch_short_before_the_budget_runs_out() -> None:
    clock = FakeClock()
    source = Regression(clock)
    torch.manual_seed(0)
    module = nn.Linear(3, 1)

    def validate(_: nn.Module) -> dict[str, float]:
        clock.now += 2.0
        if len(seen) == 1:
            source.per_batch = 7.0  # the machine got busy after the second epoch
        seen.append(1.0)
        return {"ndcg@10": float(len(seen))}

    seen: list[float] = []
    settings = TrainSettings(
        epochs=100, learning_rate=0.1, time_budget=40.0, clock=clock, started=clock()
    )
    result = train(module, source, source.loss, settings, validate=validate)
    assert clock.now - 1000.0 <= 40.0
    assert result.stopped_by_budget and result.history[-1].partial
    assert result.history[-1].epoch == 3  # 12 s + 3 batches of 7 s, then 7 s + 2 s won't fit
    assert result.best_epoch == 3


def test_without_a_budget_the_schedule_is_unchanged() -> None:
    clock = FakeClock()
    source = Regression(clock)
    torch.manual_seed(0)
    settings = TrainSettings(epochs=3, learning_rate=0.1, clock=clock)
    result = train(nn.Linear(3, 1), source, source.loss, settings)
    assert result.planned_epochs == 3 and not result.stopped_by_budget
    assert [r.partial for r in result.history] == [False, False, False]


def test_a_passing_slowdown_shortens_the_plan_and_recovery_lengthens_it_again() -> None:
    clock = FakeClock()
    source = Regression(clock)
    torch.manual_seed(0)
    validations: list[float] = []

    def validate(_: nn.Module) -> dict[str, float]:
        clock.now += 2.0
        validations.append(clock.now)
        # epochs 3 and 4 take 3 s per batch (a neighbour's job), then 1 s again
        source.per_batch = {2: 3.0, 4: 1.0}.get(len(validations), source.per_batch)
        return {"ndcg@10": clock.now}  # always improving: no early stop

    settings = TrainSettings(
        epochs=100, learning_rate=0.1, warmup=0.05, time_budget=80.0, clock=clock,
        started=clock(),
    )  # fmt: skip
    result = train(nn.Linear(3, 1), source, source.loss, settings, validate=validate)
    assert [r.seconds for r in result.history] == [6, 6, 14, 14] + [6] * 6
    # after each epoch: 74 s left at median 6 s (+5 %) → 12; 68 → 12; median(6, 6, 14) → 11;
    # median(6, 14, 14) = 14: 40 s left hold 2 more → 6; 34 s → 7; median 6 again → 10; …
    assert [r.planned for r in result.history] == [12, 12, 11, 6, 7] + [10] * 5
    assert result.stopped_by_budget and clock.now - 1000.0 == 76.0
    lrs = [r.lr for r in result.history]
    assert all(b <= a for a, b in zip(lrs, lrs[1:], strict=False))  # never rises again
    assert lrs[-1] < 0.1 * 0.01  # and the decay ended with the run
