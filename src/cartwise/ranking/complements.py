"""Bought together: co-purchase statistics read from the store at request time.

For an anchor item *a* and a window of *w* days, a shopper counts for item *j* when they bought
*j* at the same time as *a* or within *w* days after it. With ``together(a, j)`` such shoppers,
``buyers(x)`` the shoppers who ever bought *x* and *N* all shoppers who bought anything::

    lift(a, j) = (together(a, j) / buyers(a)) / (buyers(j) / N)

Lift > 1 means buying *a* makes *j* more likely than it is for the average buyer; it is what
separates a phone case (bought after phones) from a best-seller (bought by everyone).
Pairs seen for fewer than `min_support` shoppers are ignored: lift on one shopper is noise.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, distinct, func, select

from cartwise.data import tables as t
from cartwise.data.schema import EventKind
from cartwise.data.store import Store
from cartwise.errors import InputError

_DAY = 86_400.0


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


def co_purchases(
    store: Store,
    item_id: str,
    *,
    window_days: float = 30.0,
    min_support: int = 2,
    limit: int = 200,
) -> list[CoPurchase]:
    """Items bought together with `item_id`, best lift first (ties: more shoppers, then id)."""
    if window_days <= 0 or min_support < 1:
        raise InputError(
            f"window_days must be > 0 and min_support >= 1, got {window_days} and {min_support}",
            field="window_days" if window_days <= 0 else "min_support",
        )
    e = t.events.c
    buy = EventKind.PURCHASE.value
    a, b = t.events.alias("a"), t.events.alias("b")
    together = func.count(distinct(b.c.user_id))
    pairs_stmt = (
        select(b.c.item_id, together)
        .select_from(a.join(b, a.c.user_id == b.c.user_id))
        .where(
            and_(
                a.c.item_id == item_id,
                a.c.kind == buy,
                b.c.kind == buy,
                b.c.item_id != item_id,
                b.c.ts >= a.c.ts,
                b.c.ts <= a.c.ts + window_days * _DAY,
            )
        )
        .group_by(b.c.item_id)
        .having(together >= min_support)
    )
    with store.engine.connect() as conn:
        pairs = {str(i): int(n) for i, n in conn.execute(pairs_stmt)}
        if not pairs:
            return []
        buyers = func.count(distinct(e.user_id))
        total = int(conn.scalar(select(buyers).where(e.kind == buy)) or 0)
        anchor = int(conn.scalar(select(buyers).where(e.kind == buy, e.item_id == item_id)) or 0)
        per_item = {
            str(i): int(n)
            for i, n in conn.execute(
                select(e.item_id, buyers)
                .where(e.kind == buy, e.item_id.in_(list(pairs)))
                .group_by(e.item_id)
            )
        }
    found = [
        CoPurchase(j, n, (n / anchor) / (per_item[j] / total), anchor, per_item[j])
        for j, n in pairs.items()
    ]
    found.sort(key=lambda c: (-c.lift, -c.together, c.item_id))
    return found[:limit]
