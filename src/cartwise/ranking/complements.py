"""Bought together: lifts from co-purchase counts (:mod:`cartwise.data.copurchase`).

With ``together(a, j)`` the shoppers who bought *j* with or within the window after *a*,
``buyers(x)`` the shoppers who ever bought *x* and *N* all shoppers who bought anything::

    lift(a, j) = (together(a, j) / buyers(a)) / (buyers(j) / N)

Lift > 1 means buying *a* makes *j* more likely than it is for the average buyer; it is what
separates a phone case (bought after phones) from a best-seller (bought by everyone).
Pairs seen for fewer than `min_support` shoppers are ignored, and pairs are ranked by a lower
confidence bound of the lift (:func:`lower_lift`): a lift on one or two shoppers is noise.

When co-purchases are too few (a new product, a quiet shop) the list is completed from what the
catalog declares: items whose ``attributes["compatible_with"]`` names the anchor
(:func:`made_for`), then items of accessory categories by text similarity to the anchor; an
item declared for another product (:func:`made_for_others`) is never suggested.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cartwise.data.copurchase import CoPurchaseCounts


@dataclass(frozen=True)
class CoPurchase:
    """One item bought together with the anchor.

    Attributes:
        item_id: the complement.
        together: shoppers who bought it with or within the window after the anchor.
        lift: see the module docstring.
        anchor_buyers: shoppers who bought the anchor.
        item_buyers: shoppers who bought the complement.
    """

    item_id: str
    together: int
    lift: float
    anchor_buyers: int
    item_buyers: int


def lifts(counts: CoPurchaseCounts, limit: int = 200) -> list[CoPurchase]:
    """Items bought together with the anchor, best first by :func:`lower_lift` (ties: more
    shoppers, then id)."""
    anchor, total = counts.anchor_buyers, counts.buyers
    found = [
        CoPurchase(j, n, (n / anchor) / (counts.item_buyers[j] / total), anchor,
                   counts.item_buyers[j])
        for j, n in counts.together.items()
    ]  # fmt: skip
    found.sort(key=lambda c: (-lower_lift(c, total), -c.together, c.item_id))
    return found[:limit]


def lower_lift(c: CoPurchase, buyers: int, z: float = 1.64) -> float:
    """A cautious lift: the lower Wilson bound of P(item | anchor bought) over P(item).

    With one or two shoppers behind a pair the raw lift can be in the hundreds by chance (one
    shopper who bought a rare item after the anchor); the bound shrinks such pairs, so pairs
    many shoppers share rank first.
    """
    n = c.anchor_buyers
    if n <= 0 or buyers <= 0 or c.item_buyers <= 0:
        return 0.0
    p = c.together / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = (centre - spread) / (1 + z * z / n)
    return max(0.0, low) / (c.item_buyers / buyers)


def made_for(compatible: Mapping[str, np.ndarray], anchor_id: str, size: int) -> np.ndarray:
    """Per catalog row: whether the item declares it fits `anchor_id`."""
    out = np.zeros(size, dtype=bool)
    rows = compatible.get(anchor_id)
    if rows is not None:
        out[rows] = True
    return out


def made_for_others(compatible: Mapping[str, np.ndarray], anchor_id: str, size: int) -> np.ndarray:
    """Per catalog row: whether the item declares it fits some item other than `anchor_id`
    (a case made for another phone never completes this one)."""
    out = np.zeros(size, dtype=bool)
    for target, rows in compatible.items():
        if target != anchor_id:
            out[rows] = True
    others: np.ndarray = out & ~made_for(compatible, anchor_id, size)
    return others


def accessory_rows(
    compatible: Mapping[str, np.ndarray], leaf: Sequence[str], anchor_row: int | None
) -> np.ndarray:
    """Per catalog row: in a leaf category whose items declare what they fit (cases, chargers…),
    other than the anchor's own category."""
    size = len(leaf)
    declared = np.zeros(size, dtype=bool)
    for rows in compatible.values():
        declared[rows] = True
    leaves = {leaf[int(r)] for r in np.flatnonzero(declared)}
    if anchor_row is not None:
        leaves.discard(leaf[anchor_row])
    return np.fromiter((name in leaves for name in leaf), dtype=bool, count=size)
