"""`cartwise demo`: build the synthetic store, train, and show recommendations."""

from __future__ import annotations

import logging
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cartwise.data.schema import EventKind
from cartwise.data.sources.demo import DemoConfig, build_demo_store
from cartwise.data.store import Store
from cartwise.errors import NotFoundError
from cartwise.models.registry import REGISTRY
from cartwise.serving.engine import Engine

_log = logging.getLogger(__name__)

#: Settings for the demo's model: small enough to train in about a minute on two cores.
DEMO_MODEL_CONFIG: dict[str, dict[str, object]] = {"sasrec": {"epochs": 8, "max_len": 50}}


def default_model() -> str:
    """The best model the project has: the Transformer when it is registered."""
    return "sasrec" if "sasrec" in REGISTRY else "popularity"


def run_demo(
    store: Store,
    model_dir: Path | str,
    *,
    demo: DemoConfig | None = None,
    show: int = 3,
    model: str | None = None,
    fresh: bool = False,
    console: Console,
) -> Engine:
    """Build the demo store if empty, train if no model is active, print recommendations.

    `demo` sets the size and seed of the store (default: :class:`DemoConfig`); its seed also
    seeds training.
    """
    demo = demo or DemoConfig()
    seed = demo.seed
    engine = Engine(store, model_dir)
    if fresh or store.counts()["events"] == 0:
        console.print(f"building the demo store (seed {seed}) ...")
        data = build_demo_store(store, demo, progress=True)
        sizes = (len(data.items), len(data.users), len(data.events))
        console.print("  {:,} items, {:,} shoppers, {:,} events".format(*sizes))
    if fresh or engine.active_version() is None:
        name = model or default_model()
        console.print(f"training {name} ...")
        version = engine.train(name, DEMO_MODEL_CONFIG.get(name), rng=seed)
        console.print(f"  active model version: {version}")
    for user_id in _shoppers(store, show):
        _print_user(engine, user_id, console)
    return engine


def _shoppers(store: Store, n: int) -> list[str]:
    """The first `n` shoppers (by id) who purchased something: they have a history to show."""
    frame = store.events_frame(kinds=[EventKind.PURCHASE])
    return sorted(frame["user_id"].unique())[:n]


def _print_user(engine: Engine, user_id: str, console: Console) -> None:
    recent = engine.store.user_events(user_id, limit=5)
    console.rule(f"shopper {user_id}")
    for ev in recent:
        what = ev.query if ev.kind is EventKind.SEARCH else _title(engine, ev.item_id)
        console.print(f"  {ev.timestamp:%Y-%m-%d %H:%M}  {ev.kind:<16} {what}", highlight=False)
    table = Table(show_header=True, header_style="bold")
    for col in ("#", "recommended", "price", "why"):
        table.add_column(col)
    for i, rec in enumerate(engine.recommend_user(user_id, k=5).items, 1):
        price = f"{rec.item.price:.2f} {rec.item.currency}" if rec.item.price is not None else ""
        table.add_row(str(i), rec.item.title, price, rec.reason)
    console.print(table)


def _title(engine: Engine, item_id: str | None) -> str:
    if item_id is None:
        return ""
    try:
        return engine.store.get_item(item_id).title or item_id
    except NotFoundError:  # a deleted item still shows in history by id
        return item_id
