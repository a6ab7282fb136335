"""A synthetic shop whose best model is known: shoppers view an accessory's product, then buy
the accessory.

Items a0..a19 (products) and b0..b19 (their accessories). Each shopper, in each visit, views
a_j and then buys b_j, for a few random j. So b_j follows a_j: ItemKNN (items bought by the
same shoppers) ranks b_j first after a_j, while popularity, which ignores the shopper, cannot
(every item is about equally popular). A shopper's latest event is always a purchase of b_j
right after a view of a_j, so the holdout rewards ItemKNN.

Phase 1 is January 2024 (days 0..10); :func:`add_visits` adds later visits (from `start_day`)
for the same shoppers, so a version trained on phase 1 never saw them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from cartwise.data.schema import Event, EventKind, Item
from cartwise.data.store import Store

T0 = datetime(2024, 1, 1, tzinfo=UTC)
PAIRS = 20


def shop_items() -> list[Item]:
    """The catalog: a0..a19 and b0..b19."""
    phones = [Item(id=f"a{j}", title=f"Phone {j}", category=["Phones"]) for j in range(PAIRS)]
    cases = [Item(id=f"b{j}", title=f"Case, phone {j}", category=["Cases"]) for j in range(PAIRS)]
    return phones + cases


def visits(
    shoppers: int, per_shopper: int, start_day: float, seed: int, prefix: str = "e"
) -> list[Event]:
    """Each of `shoppers` shoppers views a_j then buys b_j, `per_shopper` times, from
    `start_day` (one visit a day, the purchase a minute after the view)."""
    rng = np.random.default_rng(seed)
    events: list[Event] = []
    for u in range(shoppers):
        for v, j in enumerate(rng.choice(PAIRS, size=per_shopper, replace=False)):
            when = T0 + timedelta(days=start_day + v, minutes=u)
            for kind, item, later in (("view", "a", 0), ("purchase", "b", 1)):
                events.append(
                    Event(
                        event_id=f"{prefix}-u{u}-{v}-{kind}",
                        user_id=f"u{u}",
                        item_id=f"{item}{j}",
                        kind=EventKind(kind),
                        timestamp=when + timedelta(minutes=later),
                    )
                )
    return events


def build_shop(store: Store, shoppers: int = 60, per_shopper: int = 3, seed: int = 1) -> None:
    """The catalog and phase 1: days 0..`per_shopper`."""
    store.upsert_items(shop_items())
    store.append_events(visits(shoppers, per_shopper, 0.0, seed))


def add_visits(
    store: Store, shoppers: int = 60, per_shopper: int = 2, start_day: float = 20.0, seed: int = 2
) -> int:
    """Later visits of the same shoppers (from `start_day`); returns the events added."""
    events = visits(shoppers, per_shopper, start_day, seed, prefix=f"d{start_day:g}")
    store.append_events(events)
    return len(events)
