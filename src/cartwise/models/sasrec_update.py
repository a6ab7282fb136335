"""Incremental update: fine-tune a fitted SASRec (or the text-aware hybrid) from its weights on
the events after its training cut-off, instead of training a new one from scratch.

The update reads every shopper's whole history (the events the parent learnt from are the
context of the new ones) but only the events after the cut-off are loss targets
(``first_targets`` of :meth:`SASRec.train_on`). Its network is the parent's, grown where the
data grew:

- the item table is rebuilt in the new data's vocabulary; every item the parent knew keeps its
  row (copied by external id), items it did not know get a new row: for the hybrid, a zero id
  embedding, so the item starts as its projected text vector ``W · t`` (encoded here, only for
  the new items); for the id-only model, the mean of the rows the parent learnt from events
  (plus the fresh network's small random init, so new items can be told apart) when the item
  has events in the data, else the fresh small random init a full training gives it;
- the event-aware model's kind table likewise, by kind name (a new kind starts at the fresh
  init); the rest of the network (positions, blocks, the time-gap table, the hybrid's text
  projection) is copied as it is. The model has no user table: a shopper is their history.

The settings an update does not get are derived from the data (:func:`derive_update`): a lower
learning rate, few epochs, a time budget that is a share of a full training's; the settings
that shape the network stay the parent's.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from cartwise.data.dataset import Dataset, Vocabulary
from cartwise.data.split import EvalSet
from cartwise.errors import ConfigError, DataError, ModelError
from cartwise.models.base import Rng, as_seed
from cartwise.models.hybrid import Hybrid, HybridNet
from cartwise.models.sasrec import SASRec
from cartwise.models.sasrec_auto import DEFAULT_TIME_BUDGET, Derived, notes
from cartwise.models.sasrec_net import SASRecNet
from cartwise.models.text import make_encoder

_log = logging.getLogger(__name__)

#: The update's learning rate relative to the parent's: it starts at a minimum of the parent's
#: loss, and a full-size step would first undo what the parent learnt (forgetting).
LR_FACTOR = 0.3
#: Optimiser steps an update aims at (epochs = this over the batches of new targets, bounded).
UPDATE_STEPS = 200
MIN_EPOCHS, MAX_EPOCHS = 2, 30
UPDATE_PATIENCE = 3
#: The update's time budget as a share of a full training's.
BUDGET_SHARE = 0.25
#: Settings an update may be given; the others shape the network and stay the parent's.
TUNABLE = frozenset({
    "learning_rate", "epochs", "patience", "time_budget", "batch_size", "weight_decay",
    "warmup", "schedule", "grad_clip", "bf16", "num_threads", "progress", "device", "dropout",
    "attention_dropout", "id_dropout", "loss", "num_negatives", "kind_weights", "sparse_items",
})  # fmt: skip
_TEXT_BUFFERS = ("item_emb.text", "item_emb.seen", "item_emb.borrowed")
_RELATION_TABLES = ("relations.source", "relations.target", "relations.slot_key")


def first_targets(data: Dataset, after: float) -> list[int]:
    """Per user of `data`, the index of their first event after `after` (epoch seconds): the
    first loss target of an update (the length of the history when nothing came after)."""
    if data.timestamps is None:
        raise DataError(
            f"dataset '{data.name}' has no timestamps; an incremental update needs event times "
            "to tell the events after the cut-off from the earlier ones"
        )
    return [int(np.searchsorted(ts, after, side="right")) for ts in data.timestamps]


def row_map(old: Vocabulary, new: Vocabulary) -> np.ndarray:
    """Per index of `new`, the index of the same external id in `old` (-1: not there; 0 → 0)."""
    out = np.full(len(new), -1, dtype=np.int64)
    out[0] = 0
    for index, external in enumerate(new.ids, start=1):
        found = old.get(external)
        if found is not None:
            out[index] = found
    return out


def check_settings(given: dict[str, Any]) -> None:
    """ConfigError naming the settings of `given` an update cannot change (not :data:`TUNABLE`:
    they shape the network)."""
    shaping = sorted(set(given) - TUNABLE)
    if shaping:
        raise ConfigError(
            f"setting {', '.join(shaping)} cannot change in an incremental update (it keeps "
            f"the active version's network); change only {', '.join(sorted(TUNABLE))}, or "
            "retrain in full ('cartwise retrain' without --incremental)"
        )


def derive_update(
    parent: SASRec, data: Dataset, first: Sequence[int], given: dict[str, Any]
) -> tuple[Any, list[Derived]]:
    """The update's config: the parent's, with the `given` settings and, where not given, a
    lower learning rate, the epochs that make about :data:`UPDATE_STEPS` steps over the new
    targets, a short patience and a share of the parent's time budget.

    Raises:
        ConfigError: a given setting shapes the network (only :data:`TUNABLE` ones may change).
    """
    check_settings(given)
    cfg = parent.config
    learners = sum(1 for s, f in zip(data.sequences, first, strict=True) if len(s) > max(f, 1))
    batches = max(1, math.ceil(learners / int(given.get("batch_size", cfg.batch_size))))
    epochs = min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(UPDATE_STEPS / batches)))
    budget = (cfg.time_budget or DEFAULT_TIME_BUDGET) * BUDGET_SHARE
    found = [
        Derived("learning_rate", cfg.learning_rate * LR_FACTOR,
                f"{LR_FACTOR:g} × the parent's {cfg.learning_rate:g}: a fine-tune from its "
                "weights, small steps keep what it learnt"),
        Derived("epochs", epochs,
                f"about {UPDATE_STEPS} steps over {learners:,} shoppers with new events "
                f"({batches} batches an epoch; {MIN_EPOCHS}..{MAX_EPOCHS})"),
        Derived("patience", UPDATE_PATIENCE if cfg.patience is not None else None,
                "a short patience: the update starts from a trained model"),
        Derived("time_budget", budget,
                f"{BUDGET_SHARE:.0%} of the parent's time budget ({budget / 60:.1f} min)"),
    ]  # fmt: skip
    chosen = [d for d in found if d.name not in given]
    values = {**cfg.model_dump(), **{d.name: d.value for d in chosen}, **given}
    config = type(cfg).model_validate({**values, "autoconfig": False, "resume": False,
                                       "checkpoint_dir": None})  # fmt: skip
    return config, chosen


def update(
    parent: SASRec,
    data: Dataset,
    *,
    after: float,
    rng: Rng = 0,
    valid: EvalSet | None = None,
    settings: dict[str, Any] | None = None,
    progress: bool = False,
) -> SASRec:
    """A new model: `parent` fine-tuned on the events of `data` after `after` (epoch seconds),
    its item (and kind) tables grown to `data`'s vocabulary; `parent` is left unchanged.

    Args:
        parent: a fitted SASRec or hybrid.
        data: every event (the earlier ones are the histories' context), in its own
            vocabulary; timestamps required.
        after: the parent's training cut-off: later events are the loss targets.
        valid: held-out targets the update early-stops on (None: none).
        settings: update settings (:data:`TUNABLE`); the others are derived.

    Raises:
        DataError: no event after `after`, or `data` has no timestamps.
        ConfigError: a setting that shapes the network.
    """
    if parent.net_ is None or parent.items_ is None:
        raise ModelError("the model to update is not fitted; fit() or load() it first")
    check_settings(dict(settings or {}))
    first = first_targets(data, after)
    targets = sum(max(0, len(s) - max(f, 1)) for s, f in zip(data.sequences, first, strict=True))
    if targets == 0:
        raise DataError(
            f"'{data.name}' has no event after the cut-off {after:.0f} (epoch s) that an update "
            "could learn; run it again once new events arrived"
        )
    given = dict(settings or {})
    if progress:
        given.setdefault("progress", True)
    config, derived = derive_update(parent, data, first, given)
    child = _child(parent, config, data, progress)
    child.clock = parent.clock
    child.derived_ = {d.name: d.to_dict() for d in derived}
    rows = row_map(parent.items_, data.items)
    added = int((rows[1:] < 0).sum())
    said = (f"incremental update of {parent.n_items:,} items → {data.n_items:,} ({added:,} new), "
            f"{targets:,} new targets",)  # fmt: skip
    _log.info("%s", said[0])
    child.train_on(
        data, as_seed(rng), valid, started=child.clock(), messages=said + notes(derived),
        start_from=lambda net: carry_over(parent, child, net, data, rows),
        first_targets=first,
    )  # fmt: skip
    if isinstance(child, Hybrid):  # as Hybrid.fit ends: unseen items borrow id embeddings
        net = child.net_
        assert isinstance(net, HybridNet)
        cfg = child.config
        net.items.borrow(cfg.cold_neighbours, cfg.cold_temperature, cfg.cold_boost)
    return child


def _child(parent: SASRec, config: Any, data: Dataset, progress: bool) -> SASRec:
    """An unfitted model of the parent's class with `config` (the hybrid with its text vectors
    grown to `data` and its seen-item mask of `data`)."""
    if not isinstance(parent, Hybrid):
        return SASRec(config)
    child = Hybrid(config, encoder=parent.encoder)
    child.text_ = grown_text(parent, data, progress=progress)
    child.seen_ = data.item_counts > 0
    child.seen_[0] = False
    return child


def grown_text(parent: Hybrid, data: Dataset, *, progress: bool = False) -> np.ndarray:
    """The parent's text vectors in `data`'s vocabulary; the items it did not know are encoded
    (only those)."""
    assert parent.text_ is not None and parent.items_ is not None
    rows = row_map(parent.items_, data.items)
    out = np.zeros((len(data.items), parent.text_.shape[1]), dtype=np.float32)
    known = rows > 0
    out[known] = parent.text_[rows[known]]
    new = [i for i in np.flatnonzero(rows < 0).tolist() if data.item_text[i].strip()]
    if new:
        cfg = parent.config
        encoder = parent.encoder or make_encoder(cfg.encoder, cfg.encoder_cache)
        if encoder.dim != out.shape[1]:
            raise ModelError(
                f"encoder {encoder.name} gives {encoder.dim}-dim vectors, the model was trained "
                f"with {out.shape[1]}; update with the encoder it was trained with"
            )
        texts = [data.item_text[i].strip() for i in new]
        out[new] = encoder.encode(texts, progress=progress)
    return out


@torch.no_grad()
def carry_over(
    parent: SASRec, child: SASRec, net: SASRecNet, data: Dataset, rows: np.ndarray
) -> None:
    """Fill the fresh network `net` (the child's, in `data`'s vocabulary; `rows` maps its item
    indices to the parent's) with the parent's weights (module docstring)."""
    old = parent.net_
    assert old is not None
    state = net.state_dict()
    for key, value in old.state_dict().items():
        if key in _TEXT_BUFFERS or key in _RELATION_TABLES:  # the child's own, from its data
            continue
        if key == "relations.weight":  # learnt per kind and key: kept where both match
            _relation_weights(parent, child, net, value)
            continue
        target = state.get(key)
        if key == "item_emb.weight":
            _item_rows(parent, child, target, value, data, rows)
        elif key == "kind_emb.weight" and parent.kinds_ is not None and child.kinds_ is not None:
            kinds = row_map(parent.kinds_, child.kinds_)
            _copy_rows(target, value, kinds)
        elif target is None or target.shape != value.shape:
            raise ModelError(
                f"the update's network does not match the parent's at {key}; retrain in full"
            )
        else:
            target.copy_(value)


def _relation_weights(parent: SASRec, child: SASRec, net: SASRecNet, source: torch.Tensor) -> None:
    """The parent's learnt link weights (kinds × keys) for the kinds and keys the child has."""
    old, new = parent.net_, net.relations
    if old is None or old.relations is None or new is None:
        return
    if parent.kinds_ is None or child.kinds_ is None:
        return
    kinds = row_map(parent.kinds_, child.kinds_)
    rows = torch.from_numpy(np.flatnonzero(kinds >= 0))
    parents = torch.from_numpy(kinds[kinds >= 0])
    for col, key in enumerate(new.keys):
        if key in old.relations.keys:
            new.weight[rows, col] = source[parents, old.relations.keys.index(key)]


def _copy_rows(target: torch.Tensor | None, source: torch.Tensor, rows: np.ndarray) -> None:
    assert target is not None
    known = torch.from_numpy(np.flatnonzero(rows >= 0))
    target[known] = source[torch.from_numpy(rows[rows >= 0])]


def _item_rows(
    parent: SASRec, child: SASRec, target: torch.Tensor | None, source: torch.Tensor,
    data: Dataset, rows: np.ndarray,
) -> None:  # fmt: skip
    """Old items keep their rows; new ones start as the module docstring says."""
    assert target is not None
    _copy_rows(target, source, rows)
    new = np.flatnonzero(rows < 0)
    if isinstance(child, Hybrid):
        target[torch.from_numpy(new)] = 0.0  # the id part starts at zero: W · t alone
        return
    learnt = np.flatnonzero(parent.prior_ > 0) if parent.prior_ is not None else np.zeros(0)
    active = new[data.item_counts[new] > 0]
    if len(learnt) and len(active):
        mean = source[torch.from_numpy(learnt)].mean(dim=0)  # (D,)
        target[torch.from_numpy(active)] += mean
