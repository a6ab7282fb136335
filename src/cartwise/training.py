"""The shared torch training loop (SASRec now, the text-aware hybrid later).

A model hands the loop its module, an epoch-indexed batch source, a loss function and
optionally a validation function; the loop owns everything else: AdamW, warmup + cosine/linear
decay, gradient clipping, bfloat16 autocast, a progress bar, validation every epoch with early
stopping, per-epoch history, and checkpoints.

Checkpoints live in one directory::

    checkpoint_dir/
      best -> best-0007/   what `export_best` wrote at the best epoch (a loadable model directory)
      last -> last-0009/   state.safetensors + state.json: weights, optimizer, RNG, loop state

Each version is written under a temporary name, renamed, and only then published by atomically
replacing the ``best`` / ``last`` symlink, so an interrupt (Ctrl-C) at any moment leaves the
previous checkpoint complete. On KeyboardInterrupt the loop restores the best weights and
returns normally (``result.interrupted``); :func:`train` with ``resume=True`` continues from
``last`` and reproduces the uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from cartwise.errors import ModelError

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
    improvement of `metric` (None: never stop early); `grad_clip` is a max global norm."""

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


@dataclass
class EpochRecord:
    """One epoch of history: mean train loss, validation metrics, learning rate at the end,
    wall seconds (training + validation), estimated training GFLOP and whether it was best."""

    epoch: int
    train_loss: float
    metrics: dict[str, float]
    lr: float
    seconds: float
    gflop: float
    best: bool


@dataclass
class TrainResult:
    """Outcome of :func:`train`; the module holds the best weights."""

    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int | None = None
    best_metric: float | None = None
    stopped_early: bool = False
    interrupted: bool = False


@dataclass
class _State:
    epoch: int = 0  # epochs completed
    step: int = 0
    best_epoch: int | None = None
    best_metric: float | None = None
    bad_epochs: int = 0


@dataclass
class _Run(Generic[B]):
    module: nn.Module
    source: BatchSource[B]
    loss_fn: Callable[[nn.Module, B], torch.Tensor]
    settings: TrainSettings
    optimizer: torch.optim.Optimizer
    flops: Callable[[B], float] | None


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
    """Train `module` in place and leave it holding the best weights (eval mode).

    Args:
        module: the network; its parameters are optimised with AdamW (weight decay on
            matrices only).
        source: the batches of each epoch.
        loss_fn: scalar loss of one batch (run under bfloat16 autocast when ``settings.bf16``).
        settings: hyperparameters and checkpointing.
        validate: metrics of the module after an epoch (higher is better for
            ``settings.metric``); without it every epoch counts as the best so far.
        flops: estimated forward + backward FLOPs of a batch, for the GFLOP/s log.
        export_best: writes a loadable model into the directory it is given, called with the
            best weights in the module; default writes ``weights.safetensors``.
        on_epoch_end: callbacks after each epoch's checkpoints are written.
    """
    if settings.epochs < 1 or len(source) == 0:
        raise ModelError(
            f"{settings.desc}: nothing to train ({settings.epochs} epochs, "
            f"{len(source)} batches per epoch); check the data and 'epochs'"
        )
    run = _Run(module, source, loss_fn, settings, _optimizer(module, settings), flops)
    state, result = _State(), TrainResult()
    best = _snapshot(module)
    if settings.resume and settings.checkpoint_dir is not None:
        best = _resume(run, state, result) or best
    try:
        while state.epoch < settings.epochs and not result.stopped_early:
            record = _epoch(run, state, validate)
            result.history.append(record)
            if record.best:
                best = _snapshot(module)
                _save_best(run, record.epoch, export_best)
            result.stopped_early = settings.patience is not None and (
                state.bad_epochs >= settings.patience
            )
            _save_last(run, state, result, best)
            for callback in on_epoch_end:
                callback(record)
    except KeyboardInterrupt:
        if state.best_epoch is None:
            raise
        _log.warning("%s interrupted; keeping epoch %d", settings.desc, state.best_epoch)
        result.interrupted = True
    module.load_state_dict(best)
    module.eval()
    result.best_epoch, result.best_metric = state.best_epoch, state.best_metric
    return result


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _optimizer(module: nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    params = [p for p in module.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": settings.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=settings.learning_rate)


def lr_factor(step: int, total: int, warmup: float, schedule: str) -> float:
    """Learning-rate multiplier at `step` of `total`: linear warmup over the first `warmup`
    fraction, then constant, cosine (to 0) or linear (to 0) decay."""
    warm = int(warmup * total)
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
    s, began = run.settings, time.perf_counter()
    loss, gflop = _train_epoch(run, state)
    metrics: dict[str, float] = {}
    if validate is not None:
        run.module.eval()
        with torch.no_grad():
            metrics = validate(run.module)
        if s.metric not in metrics:
            raise ModelError(f"{s.desc}: validation returned {sorted(metrics)}, not '{s.metric}'")
    state.epoch += 1
    value = metrics.get(s.metric)
    improved = value is None or state.best_metric is None or value > state.best_metric
    if improved:
        state.best_epoch, state.best_metric, state.bad_epochs = state.epoch, value, 0
    else:
        state.bad_epochs += 1
    seconds = time.perf_counter() - began
    lr = run.optimizer.param_groups[0]["lr"]
    record = EpochRecord(state.epoch, loss, metrics, lr, seconds, gflop, improved)
    _log.info(
        "%s epoch %d/%d: loss %.4f %s %.1f s%s%s", s.desc, state.epoch, s.epochs, loss,
        " ".join(f"{k} {v:.4f}" for k, v in metrics.items()), seconds,
        f" {gflop / seconds:.0f} GFLOP/s" if gflop else "", " (best)" if improved else "",
    )  # fmt: skip
    return record


def _train_epoch(run: _Run[B], state: _State) -> tuple[float, float]:
    s, module, opt = run.settings, run.module, run.optimizer
    total_steps = s.epochs * len(run.source)
    module.train()
    losses: list[float] = []
    gflop = 0.0
    bar = tqdm(
        run.source.epoch(state.epoch), total=len(run.source), disable=not s.progress,
        desc=f"{s.desc} {state.epoch + 1}/{s.epochs}", leave=False, unit="batch",
    )  # fmt: skip
    for batch in bar:
        factor = lr_factor(state.step, total_steps, s.warmup, s.schedule)
        for group in opt.param_groups:
            group["lr"] = s.learning_rate * factor
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=s.bf16):
            loss = run.loss_fn(module, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        if s.grad_clip is not None:
            nn.utils.clip_grad_norm_(module.parameters(), s.grad_clip)
        opt.step()
        state.step += 1
        losses.append(float(loss.detach()))
        gflop += run.flops(batch) / 1e9 if run.flops is not None else 0.0
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    if not all(math.isfinite(x) for x in losses):
        raise ModelError(f"{s.desc}: the loss diverged (NaN/inf); lower 'learning_rate'")
    return sum(losses) / max(len(losses), 1), gflop


# -- checkpoints ----------------------------------------------------------------------------------
def _save_best(run: _Run[B], epoch: int, export: Callable[[Path], None] | None) -> None:
    if run.settings.checkpoint_dir is None:
        return
    weights = run.module.state_dict()

    def write(tmp: Path) -> None:
        if export is not None:
            export(tmp)
        else:
            save_file({k: v.contiguous() for k, v in weights.items()}, tmp / "weights.safetensors")

    _publish(run.settings.checkpoint_dir, "best", epoch, write)


def _save_last(
    run: _Run[B], state: _State, result: TrainResult, best: dict[str, torch.Tensor]
) -> None:
    if run.settings.checkpoint_dir is None:
        return
    tensors = {f"model.{k}": v.contiguous() for k, v in run.module.state_dict().items()}
    tensors.update({f"best.{k}": v.contiguous() for k, v in best.items()})
    opt_state = run.optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in opt_state["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"optim.{pid}.{key}"] = value.contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {
        "state": asdict(state),
        "param_groups": opt_state["param_groups"],
        "optim_scalars": scalars,
        "history": [asdict(r) for r in result.history],
    }

    def write(tmp: Path) -> None:
        save_file(tensors, tmp / "state.safetensors")
        (tmp / "state.json").write_text(json.dumps(meta))

    _publish(run.settings.checkpoint_dir, "last", state.epoch, write)


def _publish(root: Path, name: str, epoch: int, write: Callable[[Path], None]) -> None:
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


def _resume(run: _Run[B], state: _State, result: TrainResult) -> dict[str, torch.Tensor] | None:
    """Load `last` into the module, optimizer, RNG and loop state; return the best weights."""
    assert run.settings.checkpoint_dir is not None
    last = run.settings.checkpoint_dir / "last"
    if not last.is_dir():
        _log.info("no checkpoint at %s; starting from scratch", last)
        return None
    tensors = load_file(str(last / "state.safetensors"))
    meta = json.loads((last / "state.json").read_text())
    model = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        run.module.load_state_dict(model)
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
    run.optimizer.load_state_dict({"state": opt_state, "param_groups": meta["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    for key, value in meta["state"].items():
        setattr(state, key, value)
    result.history = [EpochRecord(**r) for r in meta["history"]]
    _log.info("resumed %s after epoch %d", run.settings.desc, state.epoch)
    return {k[len("best.") :]: v for k, v in tensors.items() if k.startswith("best.")}
