"""Co-purchase counts read from the store: who bought what with, or soon after, an anchor item.

For an anchor item *a* and a window of *w* days, a shopper counts for item *j* when they bought
*j* at the same time as *a* or within *w* days after it. :func:`co_purchase_counts` returns those
shopper counts together with the number of buyers of *a*, of each *j* and of anything;
:mod:`cartwise.ranking.complements` turns them into lifts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, distinct, func, select

from cartwise.data import tables as t
from cartwise.data.schema import EventKind
from cartwise.data.store import Store
from cartwise.errors import InputError

_DAY = 86_400.0


@dataclass(frozen=True)
class CoPurchaseCounts:
    """Shopper counts around one anchor item.

    Attributes:
        together: item id → shoppers who bought it with or within the window after the anchor
            (only items with at least `min_support` such shoppers).
        anchor_buyers: shoppers who bought the anchor.
        item_buyers: item id → shoppers who ever bought it (for the items in `together`).
        buyers: shoppers who bought anything.
    """

    together: dict[str, int] = field(default_factory=dict)
    anchor_buyers: int = 0
    item_buyers: dict[str, int] = field(default_factory=dict)
    buyers: int = 0


def co_purchase_counts(
    store: Store, item_id: str, *, window_days: float = 30.0, min_support: int = 2
) -> CoPurchaseCounts:
    """Counts of shoppers who bought items with or within `window_days` after `item_id`."""
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
            return CoPurchaseCounts()
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
    return CoPurchaseCounts(pairs, anchor, per_item, total)
