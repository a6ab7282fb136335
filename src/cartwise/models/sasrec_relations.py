"""What the catalog says links two items, as the event-aware SASRec reads it at the last event.

A shop's catalog declares relations between items in its attributes: a case names the phone it
fits (``compatible_with: i00050``), a memory card and a camera share a ``card_format``, a
laptop bag and a laptop a ``screen_size``. Whether such a link predicts what a shopper does next
depends on what they just did (after *buying* a camera they look at its cards, after *viewing*
one they look at other cameras), so the model learns it: every link is a *slot*, and

    bias(j | last event (i, kind)) = Σ_m  s · w[kind, key(m)] · source[i, m] · target[j, m]

is added to item j's score, with ``w`` a learnt weight per event kind and attribute key (zero at
the start, trained with the rest of the network) and ``s`` = :data:`LINK_SCALE`. The slots:

- a declared fit: an attribute whose value is another item's id (``compatible_with``); the
  named item is the slot's source, the declaring items its targets (key ``"fits:<attribute>"``);
- a shared value: an attribute value (``card_format = SD``) held by items of at least two leaf
  categories (a link *across* categories, as an accessory and what it goes with are); every
  item holding it is both a source and a target (key ``"<attribute>"``).

Values that are lists or mappings are not read. The bias is a dot product of a query-side
vector with a fixed item-side one, so the loss and the scorer take it as extra columns of the
hidden state and of the item table (:meth:`ItemRelations.query`, :attr:`ItemRelations.target`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from cartwise.data.dataset import Vocabulary

_SCALAR = (str, int, float, bool)

#: The learnt weights count this many times in the logits. They are a handful of scalars
#: trained by Adam, whose step is about the learning rate whatever the gradient: unscaled, a
#: weight moves 0.002 a step and cannot reach the size of the id logits (≈ 5-15) in a few
#: hundred steps, and the ids memorise the pairs the training data shows instead.
LINK_SCALE = 10.0


@dataclass(frozen=True)
class Slots:
    """The catalog's links as slots: (V, M) source and target indicators and each slot's key.

    Attributes:
        keys: relation keys (``"fits:compatible_with"``, ``"card_format"``…), sorted.
        source: (V, M) float32, 1 where item i activates slot m as the last event's item.
        target: (V, M) float32, 1 where candidate j holds slot m.
        slot_key: (M,) int64, index into `keys` of each slot.
    """

    keys: list[str]
    source: np.ndarray
    target: np.ndarray
    slot_key: np.ndarray

    @property
    def size(self) -> int:
        return len(self.slot_key)


def _leaf(category: Any) -> str:
    if isinstance(category, list | tuple | np.ndarray) and len(category):
        return str(category[-1])
    return "" if category is None or isinstance(category, float) else str(category)


def _links(
    attributes: Sequence[Any], leaves: Sequence[str], items: Vocabulary
) -> dict[tuple[str, str], tuple[set[int], set[int]]]:
    """(key, value) → (source rows, target rows) of every link (before the category filter)."""
    links: dict[tuple[str, str], tuple[set[int], set[int]]] = {}
    for row, attrs in enumerate(attributes):
        if row == 0 or not isinstance(attrs, Mapping):
            continue
        for key, value in attrs.items():
            if not isinstance(value, _SCALAR) or value is None:
                continue
            named = items.get(str(value)) if isinstance(value, str) else None
            if named is not None and named != row:
                src, dst = links.setdefault((f"fits:{key}", str(value)), (set(), set()))
                src.add(named)
                dst.add(row)
            src, dst = links.setdefault((str(key), str(value)), (set(), set()))
            src.add(row)
            dst.add(row)
    return {
        slot: rows
        for slot, rows in links.items()
        if slot[0].startswith("fits:") or len({leaves[r] for r in rows[1]}) >= 2
    }


def catalog_slots(info: pd.DataFrame | None, items: Vocabulary) -> Slots | None:
    """The slots of a dataset's catalog (``Dataset.item_info`` with an ``attributes`` column);
    None when it declares no link."""
    if info is None or "attributes" not in info:
        return None
    leaves = [_leaf(c) for c in info["category"]] if "category" in info else [""] * len(info)
    links = _links(list(info["attributes"]), leaves, items)
    if not links:
        return None
    order = sorted(links)
    keys = sorted({k for k, _ in order})
    source = np.zeros((len(info), len(order)), dtype=np.float32)
    target = np.zeros((len(info), len(order)), dtype=np.float32)
    for m, slot in enumerate(order):
        src, dst = links[slot]
        source[sorted(src), m] = 1.0
        target[sorted(dst), m] = 1.0
    slot_key = np.asarray([keys.index(k) for k, _ in order], dtype=np.int64)
    return Slots(keys, source, target, slot_key)


class ItemRelations(nn.Module):
    """The learnt weights (kinds × keys) of the catalog's links and the fixed slot tables.

    Args:
        slots: the catalog's slots (the tables become buffers, saved with the network).
        n_kinds: size of the model's kind table (codes 0..n_kinds - 1).
    """

    source: torch.Tensor  # (V, M) buffer
    target: torch.Tensor  # (V, M) buffer
    slot_key: torch.Tensor  # (M,) buffer

    def __init__(self, slots: Slots, n_kinds: int) -> None:
        super().__init__()
        self.keys = list(slots.keys)
        self.register_buffer("source", torch.from_numpy(slots.source.copy()))
        self.register_buffer("target", torch.from_numpy(slots.target.copy()))
        self.register_buffer("slot_key", torch.from_numpy(slots.slot_key.copy()))
        self.weight = nn.Parameter(torch.zeros(n_kinds, len(slots.keys)))

    @classmethod
    def empty(cls, keys: list[str], n_items: int, n_slots: int, n_kinds: int) -> ItemRelations:
        """A module of the right shapes for :meth:`torch.nn.Module.load_state_dict`."""
        zeros = np.zeros((n_items + 1, n_slots), dtype=np.float32)
        slot_key = np.zeros(n_slots, dtype=np.int64)
        return cls(Slots(keys, zeros, zeros, slot_key), n_kinds)

    def query(self, items: torch.Tensor, kinds: torch.Tensor) -> torch.Tensor:
        """Query-side vectors (N, M) of last events (N,) items and (N,) kind codes:
        ``source[i, m] · w[kind, key(m)]``; ``query @ target.T`` is the bias (N, V)."""
        weights = LINK_SCALE * self.weight[kinds][:, self.slot_key]  # (N, M)
        return self.source[items] * weights  # (N, M)

    def bias(self, items: torch.Tensor, kinds: torch.Tensor) -> torch.Tensor:
        """The bias (N, V) the links add to every item's score after the events (N,)."""
        out: torch.Tensor = self.query(items, kinds) @ self.target.t()  # (N, V)
        return out
