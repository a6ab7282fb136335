"""Retraining: when it is due, that it repeats the active recipe, that a deleted shopper's
pattern is gone from the retrained model, and the serving process's timer."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from lifecycle_shop import T0, add_visits, build_shop

from cartwise.data.schema import Event, EventKind, Item
from cartwise.data.store import Store
from cartwise.errors import ConfigError
from cartwise.lifecycle import Gate, Versions, train_version
from cartwise.lifecycle.retrain import due, new_events, retrain
from cartwise.lifecycle.schedule import DELETED, SCHEDULED, RetrainScheduler, parse_duration
from cartwise.models.base import Query


@pytest.fixture
def shop(store_url: str) -> Store:
    store = Store.open(store_url)
    build_shop(store)
    return store


def test_new_events_count_what_arrived_after_the_snapshot(shop: Store, tmp_path: Path) -> None:
    versions = Versions(tmp_path / "models")
    first = train_version(shop, versions, "popularity", rng=0).version
    assert new_events(shop, versions, first) == 0
    assert not due(shop, versions, if_new_events=1).run
    added = add_visits(shop, shoppers=3, per_shopper=1)
    assert new_events(shop, versions, first) == added == 6
    assert due(shop, versions, if_new_events=6).run
    waiting = due(shop, versions, if_new_events=7)
    assert not waiting.run and "6 new events" in waiting.reason and "fewer than 7" in waiting.reason
    assert due(shop, versions).run  # no condition: always


def test_retrain_repeats_the_active_recipe(shop: Store, tmp_path: Path) -> None:
    versions = Versions(tmp_path / "models")
    first = train_version(shop, versions, "itemknn", {"k": 30}, rng=3, gate=Gate())
    add_visits(shop)
    again = retrain(shop, versions, gate=Gate())
    assert again.activated and again.version != first.version
    recorded = (again.info["model"], again.info["settings"], again.info["seed"])
    assert recorded == ("itemknn", {"k": 30}, 3)
    assert versions.load(again.version).config.k == 30
    assert again.info["window"]["last"] > first.info["window"]["last"]  # learnt the new events
    other = retrain(shop, versions, gate=None, model="popularity")
    assert other.info["model"] == "popularity" and versions.active() == other.version
    with pytest.raises(ConfigError, match="no active version"):
        retrain(shop, Versions(tmp_path / "empty"), gate=Gate())


def _plant(store: Store) -> None:
    """Shopper 'spy', alone, views z1 and then buys z2, three times."""
    store.upsert_items([Item(id="z1", title="Gadget"), Item(id="z2", title="Gadget strap")])
    store.append_events(
        Event(event_id=f"spy-{n}-{kind}", user_id="spy", item_id=item, kind=EventKind(kind),
              timestamp=T0 + timedelta(days=n, minutes=30 + later))
        for n in range(3)
        for kind, item, later in (("view", "z1", 0), ("purchase", "z2", 1))
    )  # fmt: skip


def test_a_deleted_shoppers_pattern_is_gone_after_the_retrain(shop: Store, tmp_path: Path) -> None:
    _plant(shop)
    versions = Versions(tmp_path / "models")
    before = train_version(shop, versions, "itemknn", rng=0, gate=Gate())

    def strap_after_gadget(version: str) -> float:
        model = versions.load(version)
        assert model.items_ is not None
        z1, z2 = model.items_.index("z1"), model.items_.index("z2")
        return float(model.score(Query.of([z1]))[z2])

    assert strap_after_gadget(before.version) > 0.05  # learnt from the spy alone
    removed = shop.delete_user("spy")
    versions.note_deletion(removed["events"])
    assert due(shop, versions, exclude_deleted=True).run
    after = retrain(shop, versions, gate=Gate())
    assert after.activated and versions.deletion_mark(after.version) is None
    assert strap_after_gadget(after.version) == 0.0  # nobody else ever paired them
    assert not due(shop, versions, exclude_deleted=True).run


def test_parse_duration() -> None:
    assert [parse_duration(t) for t in ("90s", "30m", "6h", "1d", "1.5h", "45")] == [
        90.0, 1800.0, 21600.0, 86400.0, 5400.0, 45.0,
    ]  # fmt: skip
    for bad in ("6 hours", "-1h", "0", "h"):
        with pytest.raises(ConfigError, match="is not a duration"):
            parse_duration(bad)


def test_scheduler_runs_on_schedule_and_once_per_deletion(tmp_path: Path) -> None:
    versions = Versions(tmp_path / "models")
    marker = tmp_path / "ran.txt"
    script = f"import sys; open({str(marker)!r}, 'a').write(sys.argv[1] + '\\n')"
    scheduler = RetrainScheduler(
        versions, lambda reason: [sys.executable, "-c", script, reason], every=3600.0, poll=0.05
    )
    start = time.monotonic()
    assert scheduler.due(start) is None  # the first scheduled run comes `every` after start
    assert scheduler.due(start + 3600.0) == SCHEDULED
    assert scheduler.due(start + 3601.0) is None
    assert scheduler.run(SCHEDULED) == 0
    assert marker.read_text() == f"{SCHEDULED}\n"


def test_scheduler_retrains_promptly_when_the_active_version_holds_deleted_shoppers(
    shop: Store, tmp_path: Path
) -> None:
    versions = Versions(tmp_path / "models")
    train_version(shop, versions, "popularity", rng=0)
    scheduler = RetrainScheduler(versions, lambda reason: [], every=3600.0, poll=0.05)
    now = time.monotonic()
    assert scheduler.due(now) is None
    versions.note_deletion(shop.delete_user("u1")["events"])
    assert scheduler.due(now) == DELETED
    assert scheduler.due(now) is None  # tried once for this mark: a failed retrain is no loop
    versions.note_deletion(shop.delete_user("u2")["events"])
    assert scheduler.due(now) == DELETED  # a new deletion: try again
