"""The loop simulation's shop: the real engine in-process, answers logged, feedback posted.

A :class:`Shop` is what the service does for one answer, without HTTP: the engine answers
``recommend_user`` (inside a running experiment, by the shopper's variant), the answer is
logged in ``served`` (:func:`cartwise.data.feedback.log_served`), the simulated shopper's
impressions, clicks and purchases are posted through
:func:`cartwise.data.feedback.record_feedback`, and what they clicked and bought is appended to
the store as ``view`` and ``purchase`` events (so the next answer reads it and the next
training learns it), as the widget and the shop's event feed would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from loop_world import World

from cartwise.data.experiments import tally
from cartwise.data.feedback import FeedbackRecord, ensure_tables, log_served, record_feedback
from cartwise.data.schema import Event
from cartwise.data.store import Store
from cartwise.evaluation.online import Comparison, two_proportion_test
from cartwise.serving.engine import Engine

K = 10


@dataclass
class Arm:
    """What one variant showed: impressions, clicks, purchases and the click probabilities."""

    impressions: int = 0
    clicks: int = 0
    purchases: int = 0
    new_impressions: int = 0  # impressions of the items that arrived with the catalog change
    probs: list[float] = field(default_factory=list)

    @property
    def ctr(self) -> float:
        """Observed clicks per impression."""
        return self.clicks / self.impressions if self.impressions else 0.0

    @property
    def expected_ctr(self) -> float:
        """Mean ground-truth click probability of the impressions."""
        return float(np.mean(self.probs)) if self.probs else 0.0


def open_store(world: World, folder: Path) -> Store:
    """A SQLite store in `folder` with the demo's items on sale (not the new ones), its
    shoppers and their 90 (or ``config.days``) days of events."""
    store = Store.open(folder / "loop.db")
    ensure_tables(store)
    items = [item for n, item in enumerate(world.cat.items) if world.live[n]]
    with store.batch() as batch:
        batch.upsert_items(items)
        batch.upsert_users(world.data.users)
        for begin in range(0, len(world.data.events), 20_000):
            batch.append_events(world.data.events[begin : begin + 20_000])
    return store


class Shop:
    """The engine serving simulated shoppers; one :class:`Arm` per variant name.

    Args:
        world: the ground truth and the shoppers.
        store: the shop's store.
        model_dir: the saved model versions.
        seed: seed of the shoppers' clicks and purchases.
    """

    def __init__(self, world: World, store: Store, model_dir: Path, seed: int = 0) -> None:
        self.world, self.store = world, store
        self.engine = Engine(store, model_dir, answer_cache=0)
        self.rng = np.random.default_rng(seed)
        self.arms: dict[str, Arm] = {}
        self.new_ids = {world.cat.items[i].id for i in world.cat.cold}
        self._events = 0

    def visit(self, user_id: str, when: datetime) -> str:
        """One shopper opens the page: served, looks, clicks, maybe buys. Returns the variant
        that answered (``"active"`` outside experiments)."""
        served = self.engine.recommend_user(user_id, K)
        ids = [r.item.id for r in served.items]
        variant = served.variant[1] if served.variant else "active"
        arm = self.arms.setdefault(variant, Arm())
        if not ids:
            return variant
        rec = log_served(self.store, "user", user_id, served.version, ids, served.variant)
        shopper = self.world.shoppers[user_id]
        probs, clicked, bought = self.world.respond(shopper, ids, self.rng)
        records = [FeedbackRecord(rec, i, "impression", when) for i in ids]
        records += [FeedbackRecord(rec, i, "click", when) for i in clicked]
        records += [FeedbackRecord(rec, i, "purchase", when) for i in bought]
        record_feedback(self.store, records)
        self._append(user_id, when, clicked, bought)
        arm.impressions += len(ids)
        arm.clicks += len(clicked)
        arm.purchases += len(bought)
        arm.new_impressions += sum(i in self.new_ids for i in ids)
        arm.probs.extend(probs.tolist())
        return variant

    def _append(self, user_id: str, when: datetime, clicked: list[str], bought: list[str]) -> None:
        events = []
        for n, (item, kind) in enumerate([(i, "view") for i in clicked] +
                                         [(i, "purchase") for i in bought]):  # fmt: skip
            self._events += 1
            events.append(Event(event_id=f"loop{self._events:08d}", user_id=user_id,
                                item_id=item, kind=kind, value=1.0 if kind == "purchase" else None,
                                timestamp=when + timedelta(seconds=30 * (n + 1))))  # fmt: skip
        if events:
            self.store.append_events(events)

    def compare(self, experiment_id: str, control: str, treatment: str, alpha: float) -> Comparison:
        """The experiment's CTR@K, treatment against control, from the store's tally of the
        posted feedback (:func:`cartwise.data.experiments.tally`), by the two-proportion
        z-test of :mod:`cartwise.evaluation.online`."""
        counts = tally(self.store, experiment_id, K)
        a, b = counts[(control, "user")], counts[(treatment, "user")]
        return two_proportion_test(a.clicks_at_k, a.impressions_at_k, b.clicks_at_k,
                                   b.impressions_at_k, alpha)  # fmt: skip
