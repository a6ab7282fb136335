"""Item facts the second-stage ranker reads besides the base models' scores.

One :class:`ItemStats` is computed from the data a stage of the ranker was fitted on (the
held-out training data while the ranker learns, the full training data for serving), so a
feature never counts the event it is asked to predict:

- ``counts``: interactions per item; ``recent``: interactions in the last ``trend_days`` of the
  data (with timestamps) or among each shopper's last ``trend_positions`` events (without):
  popularity and its trend.
- ``transitions``: how often item ``b`` directly followed item ``a`` in a sequence (V × V, CSR).
- ``groups``: per catalog attribute with several values (``category``, ``brand``), each item's
  values as a bitset, ``(V, W)`` uint64 words: two items share a value iff their words AND to
  something non-zero.
- ``price``: per item, NaN when unknown (None when no item has one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cartwise.data.dataset import Dataset

DAY_SECONDS = 86_400.0
GROUP_COLUMNS = ("category", "brand")


@dataclass(frozen=True)
class ItemStats:
    """Item-level facts of one stage's training data (see the module docstring)."""

    counts: np.ndarray
    recent: np.ndarray
    transitions: sp.csr_matrix
    groups: dict[str, np.ndarray]
    price: np.ndarray | None

    @classmethod
    def of(cls, data: Dataset, *, trend_days: float, trend_positions: int) -> ItemStats:
        """Compute the facts of `data` (item info comes from its catalog)."""
        counts = data.item_counts.astype(np.float64)
        return cls(
            counts=counts,
            recent=_recent_counts(data, trend_days, trend_positions),
            transitions=_transitions(data),
            groups=_groups(data.item_info, len(data.items)),
            price=_prices(data.item_info, len(data.items)),
        )

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Flat arrays for an ``.npz`` file (keys start with `prefix`)."""
        t = self.transitions
        out = {"counts": self.counts, "recent": self.recent, "t_data": t.data}
        out |= {"t_indices": t.indices, "t_indptr": t.indptr}
        out |= {f"group_{name}": words for name, words in self.groups.items()}
        if self.price is not None:
            out["price"] = self.price
        return {prefix + k: v for k, v in out.items()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "") -> ItemStats:
        """Inverse of :meth:`arrays`."""
        a = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        n = len(a["counts"])
        transitions = sp.csr_matrix((a["t_data"], a["t_indices"], a["t_indptr"]), shape=(n, n))
        groups = {k[len("group_") :]: v for k, v in a.items() if k.startswith("group_")}
        return cls(a["counts"], a["recent"], transitions, groups, a.get("price"))


def _recent_counts(data: Dataset, trend_days: float, trend_positions: int) -> np.ndarray:
    """Interactions per item in the last `trend_days` (timestamps) or last positions."""
    n = len(data.items)
    if not data.n_interactions:
        return np.zeros(n)
    items = np.concatenate(data.sequences).astype(np.int64)
    if data.timestamps is not None:
        times = np.concatenate(data.timestamps)
        recent = times >= times.max() - trend_days * DAY_SECONDS
        return np.bincount(items[recent], minlength=n).astype(np.float64)
    tails = [s[-trend_positions:] for s in data.sequences if len(s)]
    return np.bincount(np.concatenate(tails).astype(np.int64), minlength=n).astype(np.float64)


def _transitions(data: Dataset) -> sp.csr_matrix:
    """(V, V) counts of consecutive pairs ``a → b`` over every sequence."""
    n = len(data.items)
    heads = [s[:-1] for s in data.sequences if len(s) > 1]
    if not heads:
        return sp.csr_matrix((n, n), dtype=np.float32)
    tails = [s[1:] for s in data.sequences if len(s) > 1]
    rows, cols = np.concatenate(heads), np.concatenate(tails)
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, n))
    m.sum_duplicates()
    return m


def _values(cell: object) -> list[str]:
    """The values of one catalog cell: a list/tuple/array of labels, one label, or none."""
    if isinstance(cell, list | tuple | np.ndarray):
        return [str(v) for v in cell if isinstance(v, str) and v]
    return [cell] if isinstance(cell, str) and cell else []


def _groups(info: pd.DataFrame | None, n: int) -> dict[str, np.ndarray]:
    """Bitsets per attribute that has at least two distinct values in the catalog."""
    out: dict[str, np.ndarray] = {}
    if info is None:
        return out
    for column in GROUP_COLUMNS:
        if column not in info.columns:
            continue
        cells = [_values(c) for c in info[column].tolist()]
        labels = sorted({v for vs in cells for v in vs})
        if len(labels) >= 2:
            out[column] = bitsets(cells, labels, n)
    return out


def bitsets(cells: list[list[str]], labels: list[str], n: int) -> np.ndarray:
    """Per row, the labels it holds as bits of ``ceil(len(labels) / 64)`` uint64 words."""
    code = {label: k for k, label in enumerate(labels)}
    words = np.zeros((n, (len(labels) + 63) // 64), dtype=np.uint64)
    for row, values in enumerate(cells[:n]):
        for v in values:
            k = code[v]
            words[row, k // 64] |= np.uint64(1) << np.uint64(k % 64)
    return words


def _prices(info: pd.DataFrame | None, n: int) -> np.ndarray | None:
    if info is None or "price" not in info.columns:
        return None
    price = pd.to_numeric(info["price"], errors="coerce").to_numpy(dtype=np.float64)[:n].copy()
    price[(price <= 0) | ~np.isfinite(price)] = np.nan
    return price if np.isfinite(price).any() else None


def shares(words: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Whether items `left[p]` and `right[p]` share a value (bool per pair; index 0: none)."""
    both: np.ndarray = (words[left] & words[right]).any(axis=1)
    return both


def pairs_lookup(matrix: sp.csr_matrix, rows: Iterable[int], cols: Iterable[int]) -> np.ndarray:
    """``matrix[rows[p], cols[p]]`` for each pair p, as float64."""
    r = np.asarray(rows, dtype=np.int64)
    c = np.asarray(cols, dtype=np.int64)
    if r.size == 0:
        return np.zeros(0)
    return np.asarray(matrix[r, c], dtype=np.float64).reshape(-1)
