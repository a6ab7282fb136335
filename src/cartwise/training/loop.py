"""The shared torch training loop (SASRec and the text-aware hybrid).

A model hands the loop its module, an epoch-indexed batch source, a loss function and
optionally a validation function; the loop owns everything else: AdamW, warmup + cosine/linear
decay, gradient clipping, bfloat16 autocast, a progress bar, validation every epoch with early
stopping, a wall-clock budget (:mod:`cartwise.training.budget`), per-epoch history, throughput
against the measured matmul peak (:mod:`cartwise.training.throughput`), checkpoints
(:mod:`cartwise.training.checkpoints`) and data-parallel training under torchrun
(:mod:`cartwise.training.distributed`).

With a time budget the run's length is known only once an epoch has been timed: the schedule
then spans the epochs that fit, re-planned after every epoch (shorter when the machine slows
down, longer again when it recovers), and the warmup is at most the first epoch. A new plan
stretches or squeezes the rest of the decay from where it is, so the learning rate never jumps
and never rises after the warmup. Without a budget, the schedule spans ``epochs`` as it always
did.

On KeyboardInterrupt the loop restores the best weights and returns normally
(``result.interrupted``); :func:`train` with ``resume=True`` continues from the ``last``
checkpoint and reproduces the uninterrupted run.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from cartwise.errors import ModelError
from cartwise.training import checkpoints, distributed
from cartwise.training.budget import Budget
from cartwise.training.rowadam import RowAdamW, has_sparse_parameters
from cartwise.training.throughput import Peak, Throughput, bf16_pays, measure_peak

_log = logging.getLogger(__name__)

B = TypeVar("B")
B_co = TypeVar("B_co", covariant=True)


class BatchSource(Protocol[B_co]):
    """Training batches: ``len()`` batches per epoch, their order a function of the epoch."""

    def __len__(self) -> int: ...

    def epoch(self, index: int) -> Iterator[B_co]:
        """The batches of epoch `index` (0-based); the same index gives the same batches."""
        ...


@dataclass(frozen=True)
class TrainSettings:
    """How to train. `warmup` is a fraction of all steps; `patience` counts epochs without
    improvement of `metric` (None: never stop early); `grad_clip` is a max global norm;
    `time_budget` is wall seconds from `started` (a `clock` reading; default: the start of
    :func:`train`), None for no budget; `epochs` is then the most epochs; `device` is where
    the module trains (it is moved back to the CPU at the end); `notes` are logged first."""

    epochs: int
    learning_rate: float
    weight_decay: float = 0.0
    warmup: float = 0.0
    schedule: Literal["constant", "cosine", "linear"] = "cosine"
    grad_clip: float | None = 1.0
    patience: int | None = None
    metric: str = "ndcg@10"
    bf16: bool = False
    checkpoint_dir: Path | None = None
    resume: bool = False
    progress: bool = False
    desc: str = "train"
    time_budget: float | None = None
    clock: Callable[[], float] = time.monotonic
    started: float | None = None
    device: str = "cpu"
    notes: tuple[str, ...] = ()


@dataclass
class EpochRecord:
    """One epoch of history: mean train loss, validation metrics, learning rate at the end,
    wall seconds (training + validation), estimated training GFLOP, whether it was best, the
    seconds of the training steps alone, whether the budget cut the epoch short, the steps'
    CPU seconds per torch thread, and the epochs the schedule spanned after this one."""

    epoch: int
    train_loss: float
    metrics: dict[str, float]
    lr: float
    seconds: float
    gflop: float
    best: bool
    train_seconds: float = 0.0
    partial: bool = False
    cpu_seconds: float = 0.0
    planned: int = 0


@dataclass
class TrainResult:
    """Outcome of :func:`train`; the module holds the best weights.

    ``planned_epochs`` is what the schedule spanned at the end (``epochs`` without a budget);
    ``stopped_by_budget`` says the budget, not `epochs` or early stopping, ended the run.
    """

    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int | None = None
    best_metric: float | None = None
    stopped_early: bool = False
    interrupted: bool = False
    planned_epochs: int | None = None
    stopped_by_budget: bool = False
    throughput: Throughput | None = None


@dataclass
class _State:
    epoch: int = 0  # epochs completed
    step: int = 0
    best_epoch: int | None = None
    best_metric: float | None = None
    bad_epochs: int = 0
    planned: int = 0  # epochs the schedule spans
    warm: int = 0  # warmup steps
    anchor_step: int = 0  # where the last re-plan happened, and the decay's progress there
    anchor_progress: float = 0.0


@dataclass
class _Run(Generic[B]):
    module: nn.Module  # the network
    model: nn.Module  # what the loss calls: the network, or its DDP wrapper
    source: BatchSource[B]
    loss_fn: Callable[[nn.Module, B], torch.Tensor]
    settings: TrainSettings
    optimizer: torch.optim.Optimizer
    flops: Callable[[B], float] | None
    budget: Budget | None
    device: torch.device
    best: dict[str, torch.Tensor] = field(default_factory=dict)  # the best epoch's weights


def train(
    module: nn.Module,
    source: BatchSource[B],
    loss_fn: Callable[[nn.Module, B], torch.Tensor],
    settings: TrainSettings,
    *,
    validate: Callable[[nn.Module], dict[str, float]] | None = None,
    flops: Callable[[B], float] | None = None,
    export_best: Callable[[Path], None] | None = None,
    on_epoch_end: Sequence[Callable[[EpochRecord], None]] = (),
) -> TrainResult:
    """Train `module` in place and leave it holding the best weights (eval mode, on the CPU).

    Args:
        module: the network; its parameters are optimised with AdamW (weight decay on
            matrices only). Under torchrun it is wrapped in DistributedDataParallel.
        source: the batches of each epoch (under torchrun: this rank's share of them).
        loss_fn: scalar loss of one batch (run under bfloat16 autocast when ``settings.bf16``);
            it gets the module or its DDP wrapper (call that for the forward pass).
        settings: hyperparameters, budget and checkpointing.
        validate: metrics of the module after an epoch (higher is better for
            ``settings.metric``), run on rank 0 only; without it every epoch counts as the
            best so far.
        flops: estimated forward + backward FLOPs of a batch, for the throughput figures.
        export_best: writes a loadable model into the directory it is given, called with the
            best weights in the module; default writes ``weights.safetensors``.
        on_epoch_end: callbacks after each epoch's checkpoints are written.
    """
    if settings.epochs < 1 or len(source) == 0:
        raise ModelError(
            f"{settings.desc}: nothing to train ({settings.epochs} epochs, "
            f"{len(source)} batches per epoch); check the data and 'epochs'"
        )
    run = _start(module, source, loss_fn, settings, flops)
    state = _State(planned=settings.epochs, warm=_warm_steps(settings, len(source)))
    result = TrainResult()
    run.best = _snapshot(module)
    if settings.resume and settings.checkpoint_dir is not None:
        run.best = _resume(run, state, result) or run.best
    peak = measure_peak(run.device, torch.bfloat16 if run.settings.bf16 else torch.float32)
    _announce(run, peak.wall)
    try:
        _loop(run, state, result, validate, export_best, on_epoch_end)
    except KeyboardInterrupt:
        if state.best_epoch is None:
            raise
        _log.warning("%s interrupted; keeping epoch %d", settings.desc, state.best_epoch)
        result.interrupted = True
    module.load_state_dict(run.best)
    module.eval()
    module.to("cpu")
    result.best_epoch, result.best_metric = state.best_epoch, state.best_metric
    result.planned_epochs = state.planned
    result.throughput = _throughput(result, peak)
    return result


def _start(
    module: nn.Module, source: BatchSource[B], loss_fn: Callable[[nn.Module, B], torch.Tensor],
    settings: TrainSettings, flops: Callable[[B], float] | None,
) -> _Run[B]:  # fmt: skip
    device = torch.device(settings.device)
    if settings.bf16 and not bf16_pays(device):
        note = f"bf16 autocast off: this {device.type}'s bf16 matmul is slower than float32"
        settings = replace(settings, bf16=False, notes=(*settings.notes, note))
    module.to(device)
    model: nn.Module = module
    if distributed.active():
        ids = [device.index] if device.type == "cuda" else None
        model = DistributedDataParallel(module, device_ids=ids)
        torch.manual_seed(torch.initial_seed() + distributed.rank())  # own dropout masks
    budget = None
    if settings.time_budget is not None:
        budget = Budget(settings.time_budget, settings.clock, settings.started)
    optimizer = _optimizer(module, settings)
    return _Run(module, model, source, loss_fn, settings, optimizer, flops, budget, device)


def _warm_steps(settings: TrainSettings, per_epoch: int) -> int:
    warm = int(settings.warmup * settings.epochs * per_epoch)
    return warm if settings.time_budget is None else min(warm, per_epoch)


def _announce(run: _Run[B], peak: float) -> None:
    s = run.settings
    if not distributed.is_main():
        return
    for note in s.notes:
        _log.info("%s: %s", s.desc, note)
    budget = f"; time budget {s.time_budget / 60:.1f} min" if s.time_budget else ""
    ranks = f"; {distributed.world()} processes (DDP)" if distributed.active() else ""
    _log.info("%s: at most %d epochs of %d batches on %s%s%s; %s matmul peak measured "
              "now: %.0f GFLOP/s", s.desc, s.epochs, len(run.source), run.device, budget, ranks,
              "bf16" if s.bf16 else "float32", peak)  # fmt: skip


def _loop(
    run: _Run[B], state: _State, result: TrainResult,
    validate: Callable[[nn.Module], dict[str, float]] | None,
    export_best: Callable[[Path], None] | None,
    on_epoch_end: Sequence[Callable[[EpochRecord], None]],
) -> None:  # fmt: skip
    s = run.settings
    while state.epoch < state.planned and not result.stopped_early:
        record = _epoch(run, state, validate)
        result.history.append(record)
        if record.best:
            run.best = _snapshot(run.module)
            if s.checkpoint_dir is not None and distributed.is_main():
                checkpoints.save_best(s.checkpoint_dir, record.epoch, run.module, export_best)
        result.stopped_early = s.patience is not None and state.bad_epochs >= s.patience
        planned_short = state.planned < s.epochs and state.epoch >= state.planned
        result.stopped_by_budget = record.partial or (planned_short and not result.stopped_early)
        if result.stopped_by_budget:
            _replan(state, min(state.planned, state.epoch), len(run.source))
        if s.checkpoint_dir is not None and distributed.is_main():
            meta = {"state": asdict(state), "history": [asdict(r) for r in result.history]}
            checkpoints.save_last(s.checkpoint_dir, run.module, run.optimizer, meta, run.best)
        for callback in on_epoch_end:
            callback(record)
        if result.stopped_by_budget:
            break


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def _optimizer(module: nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    """AdamW (weight decay on matrices only); :class:`RowAdamW` when the module has a table
    with sparse gradients (never under DDP, whose all-reduce wants dense ones)."""
    params = [p for p in module.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": settings.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    if has_sparse_parameters(module) and not distributed.active():
        return RowAdamW(groups, lr=settings.learning_rate)
    return torch.optim.AdamW(groups, lr=settings.learning_rate)


def clip_gradients(params: list[nn.Parameter], max_norm: float) -> None:
    """Scale the gradients so their global L2 norm is at most `max_norm`, as
    ``clip_grad_norm_`` does, sparse (row) gradients included: they are coalesced first so a
    row's pieces add up before the norm."""
    grads = [p for p in params if p.grad is not None]
    if not any(p.grad is not None and p.grad.is_sparse for p in grads):
        nn.utils.clip_grad_norm_(grads, max_norm)
        return
    squares = []
    for p in grads:
        assert p.grad is not None
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()
            squares.append(p.grad.values().float().pow(2).sum())
        else:
            squares.append(p.grad.float().pow(2).sum())
    total = torch.stack(squares).sum().sqrt()
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for p in grads:
        assert p.grad is not None
        p.grad.mul_(coef.to(p.grad.dtype))


def _progress(state: _State, per_epoch: int) -> float:
    """How far the decay is (0 → 1) at the current step: linear from the last re-plan's
    progress to 1 at the planned end (without re-plans: ``(step − warm) / (total − warm)``)."""
    start = max(state.anchor_step, state.warm)
    total = state.planned * per_epoch
    if total <= start:
        return 1.0
    done = (state.step - start) / (total - start)
    return min(1.0, state.anchor_progress + (1.0 - state.anchor_progress) * done)


def _factor(state: _State, per_epoch: int, schedule: str) -> float:
    """The learning-rate multiplier at the current step (see :func:`lr_factor_steps`)."""
    if state.step < state.warm:
        return (state.step + 1) / state.warm
    if schedule == "constant" or state.planned * per_epoch <= state.warm:
        return 1.0
    progress = _progress(state, per_epoch)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0 - progress


def _replan(state: _State, planned: int, per_epoch: int) -> None:
    """Span the rest of the decay over `planned` epochs from the current step."""
    if planned == state.planned:
        return
    if state.step > state.warm:
        state.anchor_progress = _progress(state, per_epoch)
        state.anchor_step = state.step
    state.planned = planned


def lr_factor(step: int, total: int, warmup: float, schedule: str) -> float:
    """Learning-rate multiplier at `step` of `total`: linear warmup over the first `warmup`
    fraction, then constant, cosine (to 0) or linear (to 0) decay."""
    return lr_factor_steps(step, total, int(warmup * total), schedule)


def lr_factor_steps(step: int, total: int, warm: int, schedule: str) -> float:
    """Learning-rate multiplier at `step` of `total` with `warm` warmup steps (see
    :func:`lr_factor`)."""
    if step < warm:
        return (step + 1) / warm
    if schedule == "constant" or total <= warm:
        return 1.0
    progress = min(1.0, (step - warm) / (total - warm))
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0 - progress


def _epoch(
    run: _Run[B], state: _State, validate: Callable[[nn.Module], dict[str, float]] | None
) -> EpochRecord:
    s, began = run.settings, run.settings.clock()
    cpu_began = time.process_time()
    loss, gflop, train_seconds, partial = _train_epoch(run, state, validate is not None)
    cpu_seconds = (time.process_time() - cpu_began) / torch.get_num_threads()
    metrics, val_seconds = _validate(run, validate)
    state.epoch += 1
    seconds = s.clock() - began
    planned = _plan(run, state, seconds, val_seconds)
    metrics, planned = distributed.broadcast([metrics, planned])
    _replan(state, planned, len(run.source))
    value = metrics.get(s.metric)
    improved = value is None or state.best_metric is None or value > state.best_metric
    if improved:
        state.best_epoch, state.best_metric, state.bad_epochs = state.epoch, value, 0
    else:
        state.bad_epochs += 1
    lr = run.optimizer.param_groups[0]["lr"]
    record = EpochRecord(
        state.epoch, loss, metrics, lr, seconds, gflop, improved, train_seconds, partial,
        cpu_seconds, state.planned,
    )  # fmt: skip
    if distributed.is_main():
        rate = gflop / train_seconds if gflop and train_seconds > 0 else 0.0
        _log.info(
            "%s epoch %d/%d: loss %.4f %s %.1f s%s%s%s", s.desc, state.epoch, state.planned,
            loss, " ".join(f"{k} {v:.4f}" for k, v in metrics.items()), seconds,
            f" {rate:.0f} GFLOP/s" if rate else "", " (cut short by the time budget)"
            if partial else "", " (best)" if improved else "",
        )  # fmt: skip
    return record


def _validate(
    run: _Run[B], validate: Callable[[nn.Module], dict[str, float]] | None
) -> tuple[dict[str, float], float | None]:
    """Rank 0's validation metrics and seconds (nothing elsewhere: they are broadcast)."""
    s = run.settings
    if validate is None or not distributed.is_main():
        return {}, None
    began = s.clock()
    run.module.eval()
    with torch.no_grad():
        metrics = validate(run.module)
    if s.metric not in metrics:
        raise ModelError(f"{s.desc}: validation returned {sorted(metrics)}, not '{s.metric}'")
    return metrics, s.clock() - began


def _plan(run: _Run[B], state: _State, seconds: float, val_seconds: float | None) -> int:
    """Rank 0: the epochs the schedule spans from now on (the budget's, never more than
    before)."""
    budget = run.budget
    if budget is None or not distributed.is_main():
        return state.planned
    budget.record(seconds, val_seconds)
    fit = min(run.settings.epochs, budget.epochs_that_fit(state.epoch))
    if state.epoch == 1 and fit != state.planned:
        _log.info(
            "%s: the first pass over the data took %.1f s, so %d of at most %d epochs fit in "
            "the time budget; the learning-rate schedule spans them", run.settings.desc,
            seconds, fit, state.planned,
        )  # fmt: skip
    return fit


def _train_epoch(run: _Run[B], state: _State, validates: bool) -> tuple[float, float, float, bool]:
    """One epoch of steps: mean loss, GFLOP, seconds, and whether the budget cut it short."""
    s, opt = run.settings, run.optimizer
    run.model.train()
    losses: list[float] = []
    gflop, partial, began = 0.0, False, s.clock()
    bar = tqdm(
        run.source.epoch(state.epoch), total=len(run.source),
        disable=not s.progress or not distributed.is_main(),
        desc=f"{s.desc} {state.epoch + 1}/{state.planned}", leave=False, unit="batch",
    )  # fmt: skip
    for batch in bar:
        factor = _factor(state, len(run.source), s.schedule)
        for group in opt.param_groups:
            group["lr"] = s.learning_rate * factor
        step_began = s.clock()
        losses.append(_step(run, batch))
        state.step += 1
        gflop += run.flops(batch) / 1e9 if run.flops is not None else 0.0
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
        took = s.clock() - step_began
        if run.budget is not None and not _another_batch(run.budget, took, validates):
            partial = True
            break
    bar.close()
    if not all(math.isfinite(x) for x in losses):
        raise ModelError(f"{s.desc}: the loss diverged (NaN/inf); lower 'learning_rate'")
    return sum(losses) / max(len(losses), 1), gflop, s.clock() - began, partial


def _step(run: _Run[B], batch: B) -> float:
    """One optimiser step on `batch`; its loss."""
    s, opt = run.settings, run.optimizer
    with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=s.bf16):
        loss = run.loss_fn(run.model, _to_device(batch, run.device))
    opt.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]
    if s.grad_clip is not None:
        clip_gradients(list(run.module.parameters()), s.grad_clip)
    opt.step()
    return float(loss.detach())


def _another_batch(budget: Budget, took: float, validates: bool) -> bool:
    """Rank 0's answer (every rank must take the same steps)."""
    answer = budget.another_batch(took, validates) if distributed.is_main() else True
    agreed: bool = distributed.broadcast([answer])[0]
    return agreed


def _to_device(batch: Any, device: torch.device) -> Any:
    """`batch` (a tensor, or a tuple / NamedTuple of them) on `device`."""
    if device.type == "cpu":
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple):
        moved = [_to_device(x, device) for x in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else tuple(moved)
    return batch


def _throughput(result: TrainResult, peak: Peak) -> Throughput | None:
    """Every rank's GFLOP and peaks summed (the machine's), over rank 0's step seconds."""
    if not result.history:
        return None
    gflop = sum(r.gflop for r in result.history)
    seconds = sum(r.train_seconds for r in result.history)
    cpu = sum(r.cpu_seconds for r in result.history)
    gflop, wall_peak, cpu_peak = distributed.all_sum([gflop, peak.wall, peak.cpu])
    seconds, cpu = distributed.broadcast([seconds, cpu])
    return Throughput(gflop, seconds, wall_peak, cpu, cpu_peak)


def _resume(run: _Run[B], state: _State, result: TrainResult) -> dict[str, torch.Tensor] | None:
    """Load ``last`` into the module, optimizer, RNG and loop state; return the best weights."""
    assert run.settings.checkpoint_dir is not None
    loaded = checkpoints.load_last(run.settings.checkpoint_dir, run.module, run.optimizer)
    if loaded is None:
        return None
    meta, best = loaded
    for key, value in meta["state"].items():
        setattr(state, key, value)
    result.history = [EpochRecord(**r) for r in meta["history"]]
    _log.info("resumed %s after epoch %d", run.settings.desc, state.epoch)
    return best
