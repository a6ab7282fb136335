"""The shared training loop: schedule, early stopping, checkpoints, interrupt and resume."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from cartwise.errors import ModelError
from cartwise.training import EpochRecord, TrainSettings, lr_factor, train

Batch = tuple[torch.Tensor, torch.Tensor]


class Regression:
    """y = x · [1, -2, 3] + noise-free; 4 batches of 8 rows, order set by the epoch."""

    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randn(32, 3, generator=gen)
        self.y = self.x @ torch.tensor([1.0, -2.0, 3.0])

    def __len__(self) -> int:
        return 4

    def epoch(self, index: int) -> Iterator[Batch]:
        order = torch.randperm(32, generator=torch.Generator().manual_seed(index))
        for k in range(4):
            rows = order[8 * k : 8 * (k + 1)]
            yield self.x[rows], self.y[rows]


def mse(module: nn.Module, batch: Batch) -> torch.Tensor:
    x, y = batch
    return ((module(x).squeeze(-1) - y) ** 2).mean()


class Noisy(nn.Module):
    """A linear model whose forward uses dropout, so resuming must restore the torch RNG."""

    def __init__(self, p: float = 0.1) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 1)
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.lin(nn.functional.dropout(x, self.p, self.training))
        return out


def fresh(p: float = 0.1) -> Noisy:
    torch.manual_seed(0)
    return Noisy(p)


def scripted(values: list[float]) -> tuple[list[float], Callable[[nn.Module], dict[str, float]]]:
    """A validate function returning `values` in turn (and remembering calls)."""
    calls: list[float] = []

    def validate(_: nn.Module) -> dict[str, float]:
        calls.append(values[len(calls)])
        return {"ndcg@10": calls[-1]}

    return calls, validate


def settings(tmp: Path | None = None, **kw: Any) -> TrainSettings:
    base: dict[str, Any] = {"epochs": 6, "learning_rate": 0.05, "checkpoint_dir": tmp}
    return TrainSettings(**{**base, **kw})


def weights_of(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_lr_factor_known_values() -> None:
    # 10 steps, 20% warmup → steps 0, 1 ramp to 1/2, 2/2; then cosine over the 8 remaining
    assert lr_factor(0, 10, 0.2, "cosine") == pytest.approx(0.5)
    assert lr_factor(1, 10, 0.2, "cosine") == pytest.approx(1.0)
    assert lr_factor(2, 10, 0.2, "cosine") == pytest.approx(1.0)
    assert lr_factor(6, 10, 0.2, "cosine") == pytest.approx(0.5)  # half way: cos(π/2)
    assert lr_factor(6, 10, 0.2, "linear") == pytest.approx(0.5)
    assert lr_factor(10, 10, 0.2, "cosine") == pytest.approx(0.0)
    assert lr_factor(7, 10, 0.0, "constant") == 1.0


def test_learns_the_regression_and_records_history() -> None:
    module = fresh(p=0.0)
    result = train(module, Regression(), mse, settings(epochs=40, learning_rate=0.1, warmup=0.1))
    assert len(result.history) == 40
    assert result.history[-1].train_loss < 0.05 * result.history[0].train_loss
    w = module.lin.weight.detach().squeeze()
    assert torch.allclose(w, torch.tensor([1.0, -2.0, 3.0]), atol=0.15)
    assert not module.training  # left in eval mode
    assert result.history[-1].lr == pytest.approx(0.1 * lr_factor(159, 160, 0.1, "cosine"))


def test_early_stopping_keeps_the_best_epoch() -> None:
    module = fresh()
    seen: dict[int, dict[str, torch.Tensor]] = {}
    calls, validate = scripted([0.1, 0.3, 0.2, 0.25, 0.9, 0.9])

    def remember(r: EpochRecord) -> None:
        seen[r.epoch] = weights_of(module)

    result = train(
        module, Regression(), mse, settings(patience=2), validate=validate,
        on_epoch_end=[remember],
    )  # fmt: skip
    assert len(calls) == 4  # epochs 3 and 4 did not beat 0.3: stop after epoch 4
    assert result.stopped_early and result.best_epoch == 2 and result.best_metric == 0.3
    assert [r.best for r in result.history] == [True, True, False, False]
    for k, v in module.state_dict().items():
        assert torch.equal(v, seen[2][k])


def test_interrupt_keeps_best_checkpoint_usable(tmp_path: Path) -> None:
    module = fresh()
    seen: dict[int, dict[str, torch.Tensor]] = {}
    _, validate = scripted([0.1, 0.5, 0.4, 0.2, 0.6, 0.6])

    def interrupt_after_3(r: EpochRecord) -> None:
        seen[r.epoch] = weights_of(module)
        if r.epoch == 3:
            raise KeyboardInterrupt

    result = train(
        module, Regression(), mse, settings(tmp_path), validate=validate,
        on_epoch_end=[interrupt_after_3],
    )  # fmt: skip
    assert result.interrupted and result.best_epoch == 2 and len(result.history) == 3
    saved = load_file(str(tmp_path / "best" / "weights.safetensors"))
    for k, v in seen[2].items():
        assert torch.equal(saved[k], v)
        assert torch.equal(module.state_dict()[k], v)
    assert (tmp_path / "best").resolve().name == "best-0002"
    assert (tmp_path / "last").resolve().name == "last-0003"
    assert not list(tmp_path.glob(".tmp-*"))


def test_interrupt_before_any_epoch_propagates() -> None:
    def boom(module: nn.Module, batch: Batch) -> torch.Tensor:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(fresh(), Regression(), boom, settings())


def test_resume_reproduces_the_uninterrupted_run(tmp_path: Path) -> None:
    values = [0.1, 0.5, 0.4, 0.7, 0.6, 0.65]
    straight = fresh()
    _, validate = scripted(values)
    full = train(straight, Regression(), mse, settings(), validate=validate)

    def stop_after_2(r: EpochRecord) -> None:
        if r.epoch == 2:
            raise KeyboardInterrupt

    _, validate = scripted(values)
    train(fresh(), Regression(), mse, settings(tmp_path), validate=validate,
          on_epoch_end=[stop_after_2])  # fmt: skip
    calls, validate = scripted(values[2:])
    resumed_module = fresh()
    resumed = train(
        resumed_module, Regression(), mse, settings(tmp_path, resume=True),
        validate=validate,
    )  # fmt: skip
    assert len(calls) == 4  # epochs 3..6 only
    assert resumed.best_epoch == full.best_epoch == 4
    assert [r.train_loss for r in resumed.history] == [r.train_loss for r in full.history]
    for k, v in straight.state_dict().items():
        assert torch.equal(resumed_module.state_dict()[k], v)


def test_resume_keeps_best_weights_when_no_later_epoch_improves(tmp_path: Path) -> None:
    seen: dict[int, dict[str, torch.Tensor]] = {}
    module = fresh()

    def stop_after_3(r: EpochRecord) -> None:
        seen[r.epoch] = weights_of(module)
        if r.epoch == 3:
            raise KeyboardInterrupt

    _, validate = scripted([0.9, 0.1, 0.1])
    train(module, Regression(), mse, settings(tmp_path, epochs=5), validate=validate,
          on_epoch_end=[stop_after_3])  # fmt: skip
    _, validate = scripted([0.2, 0.3])
    resumed = fresh()
    result = train(resumed, Regression(), mse, settings(tmp_path, epochs=5, resume=True),
                   validate=validate)  # fmt: skip
    assert result.best_epoch == 1
    for k, v in seen[1].items():
        assert torch.equal(resumed.state_dict()[k], v)


def test_failed_write_leaves_previous_best(tmp_path: Path) -> None:
    writes: list[Path] = []

    def export(path: Path) -> None:
        writes.append(path)
        (path / "model.txt").write_text(f"epoch {len(writes)}")
        if len(writes) == 2:
            raise KeyboardInterrupt  # Ctrl-C in the middle of writing the second best

    _, validate = scripted([0.1, 0.2, 0.3])
    result = train(fresh(), Regression(), mse, settings(tmp_path, epochs=3),
                   validate=validate, export_best=export)  # fmt: skip
    assert result.interrupted
    assert (tmp_path / "best" / "model.txt").read_text() == "epoch 1"


def test_diverging_loss_raises() -> None:
    def nan_loss(module: nn.Module, batch: Batch) -> torch.Tensor:
        return mse(module, batch) * math.nan

    with pytest.raises(ModelError, match="diverged"):
        train(fresh(), Regression(), nan_loss, settings(epochs=1))


def test_validation_without_the_metric_raises() -> None:
    with pytest.raises(ModelError, match="ndcg@10"):
        train(fresh(), Regression(), mse, settings(epochs=1), validate=lambda m: {"hr@10": 1.0})
