"""The settings SASRec derives from the data and the time budget when they are not given.

A shop should not need an expert to train the model, so with ``autoconfig`` on (the default) a
fit fills every setting the caller did not give explicitly (pydantic's ``model_fields_set``)
from the training data:

- ``max_len``: the 95th percentile of the shoppers' history lengths, capped at 200. Windows
  longer than most histories are padding in every batch and attention work that grows with the
  square of the length; a cap of 200 is where the literature's ML-1M setting stops.
- ``loss`` / ``num_negatives``: the full softmax up to :data:`SAMPLED_ABOVE` items, the
  sampled softmax with :data:`NEGATIVES` shared negatives above (the measured costs are with
  the constants).
- ``dropout``: 0.1 where items are dense in the data (at least :data:`DENSE_EVENTS_PER_ITEM`
  training events per item on average, as in MovieLens), 0.5 where they are sparse (Amazon
  reviews, a long-tail shop): the literature's settings of the two regimes.
- ``time_budget``: :data:`DEFAULT_TIME_BUDGET`; the training loop plans the epochs that fit
  after the first one and spans the learning-rate schedule over them.

Explicit settings and dataset presets (which are explicit settings) win. Each derived value is
recorded with the reason (:class:`Derived`), logged when training starts, saved in the model's
``config.json`` and reported by the fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from cartwise.data.dataset import Dataset
from cartwise.models.sasrec_config import SASRecConfig

#: 20 minutes: the training time this project targets for one Transformer on its 2-core
#: reference machine. It bounds the epochs, it does not set them: on a faster machine (or a
#: smaller dataset) the epoch cap and early stopping end the run first.
DEFAULT_TIME_BUDGET = 20 * 60.0
MAX_LEN_QUANTILE = 0.95
MAX_LEN_CAP = 200
MAX_LEN_FLOOR = 8
#: Catalog size above which the loss is the sampled softmax. Measured (8,192 positions, D = 64,
#: bf16, one thread, CPU seconds of forward + backward; docs/training.md): the chunked full
#: softmax costs ∝ V, 0.079 s at 3.4k items, 0.29 s at 12.1k, 1.38 s at 54.5k (23 ms per 1,000
#: items); the chunked sampled one with 4,096 negatives 0.12-0.16 s whatever V. The full softmax
#: is exact, so it is kept while it costs at most about three times the sampled one: up to
#: 16,384 items (0.38 s).
SAMPLED_ABOVE = 16_384
#: Shared negatives of the sampled softmax: SASRec+ with 3,000 sampled negatives matches the
#: full softmax on ML-1M (Klenitskiy & Vasilev, RecSys 2023); 4,096 is that with a margin.
NEGATIVES = 4096
DENSE_EVENTS_PER_ITEM = 50.0
DENSE_DROPOUT, SPARSE_DROPOUT = 0.1, 0.5


@dataclass(frozen=True)
class Derived:
    """One derived setting: its name, value and why."""

    name: str
    value: Any
    why: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"value": self.value, "why": self.why}


def derive(config: SASRecConfig, data: Dataset) -> tuple[SASRecConfig, list[Derived]]:
    """`config` with every derivable setting it does not give explicitly derived from `data`,
    and what was derived; `config` unchanged when ``autoconfig`` is off."""
    if not config.autoconfig:
        return config, []
    given = config.model_fields_set
    lengths = np.fromiter((len(s) for s in data.sequences), dtype=np.int64)
    lengths = lengths[lengths > 0]
    found = [_max_len(lengths), _dropout(data), _budget()]
    found += _loss(data.n_items, given)
    chosen = [d for d in found if d.name not in given]
    return config.model_copy(update={d.name: d.value for d in chosen}), chosen


def _max_len(lengths: np.ndarray) -> Derived:
    if not len(lengths):
        return Derived("max_len", MAX_LEN_CAP, "no histories: the cap")
    q = float(np.quantile(lengths, MAX_LEN_QUANTILE))
    value = int(min(MAX_LEN_CAP, max(MAX_LEN_FLOOR, math.ceil(q))))
    return Derived(
        "max_len", value,
        f"{MAX_LEN_QUANTILE:.0%} of {len(lengths):,} histories hold at most {q:.0f} items "
        f"(floor {MAX_LEN_FLOOR}, cap {MAX_LEN_CAP})",
    )  # fmt: skip


def _loss(n_items: int, given: set[str]) -> list[Derived]:
    if n_items <= SAMPLED_ABOVE:
        return [Derived("loss", "softmax", f"{n_items:,} items ≤ {SAMPLED_ABOVE:,}: full softmax")]
    out = [Derived("loss", "sampled", f"{n_items:,} items > {SAMPLED_ABOVE:,}: sampled softmax")]
    if "loss" not in given:
        why = f"the sampled softmax's shared negatives ({NEGATIVES / n_items:.0%} of the catalog)"
        out.append(Derived("num_negatives", NEGATIVES, why))
    return out


def _dropout(data: Dataset) -> Derived:
    per_item = data.n_interactions / max(data.n_items, 1)
    dense = per_item >= DENSE_EVENTS_PER_ITEM
    return Derived(
        "dropout", DENSE_DROPOUT if dense else SPARSE_DROPOUT,
        f"{per_item:.1f} training events per item: {'dense' if dense else 'sparse'} "
        f"(threshold {DENSE_EVENTS_PER_ITEM:.0f})",
    )  # fmt: skip


def _budget() -> Derived:
    return Derived(
        "time_budget", DEFAULT_TIME_BUDGET,
        f"the default of {DEFAULT_TIME_BUDGET / 60:.0f} min; the epochs that fit are planned "
        "after the first",
    )  # fmt: skip


def notes(derived: list[Derived]) -> tuple[str, ...]:
    """One log line per derived setting."""
    return tuple(f"derived {d.name} = {d.value} ({d.why})" for d in derived)
