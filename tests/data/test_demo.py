"""Tests of the synthetic demo store: determinism, planted structure, and writing to a Store."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from datetime import UTC
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cartwise.data.schema import Event, EventKind, Item
from cartwise.data.sources.demo import (
    DemoConfig,
    DemoData,
    build_demo_store,
    fingerprint,
    generate,
)
from cartwise.data.store import Store
from cartwise.errors import ConfigError

SMALL = DemoConfig(n_items=400, n_users=300)
PHONE_ACCESSORIES = {"Phone Cases", "Screen Protectors", "Chargers"}


@pytest.fixture(scope="module")
def data() -> DemoData:
    return generate(SMALL)


@pytest.fixture(scope="module")
def items(data: DemoData) -> dict[str, Item]:
    return {i.id: i for i in data.items}


@pytest.fixture(scope="module")
def by_user(data: DemoData) -> dict[str, list[Event]]:
    out: dict[str, list[Event]] = defaultdict(list)
    for e in data.events:
        out[e.user_id].append(e)
    return out


# -- determinism -----------------------------------------------------------------------------
def test_same_seed_gives_identical_data_and_other_seed_differs(data: DemoData) -> None:
    again = generate(SMALL)
    assert fingerprint(again) == fingerprint(data)
    assert again.truth == data.truth
    other = generate(DemoConfig(seed=8, n_items=400, n_users=300))
    assert fingerprint(other) != fingerprint(data)


def test_same_seed_gives_identical_store_exports(tmp_path: Path) -> None:
    digests = []
    for name in ("a", "b"):
        store = Store.open(tmp_path / f"{name}.db")
        build_demo_store(store, SMALL)
        paths = store.export(tmp_path / f"export-{name}")
        digests.append({k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in paths.items()})
        if name == "a":
            first = store.events_frame()
        else:
            pd.testing.assert_frame_equal(store.events_frame(), first)
        store.close()
    assert digests[0] == digests[1]


# -- catalog ---------------------------------------------------------------------------------
def test_counts_and_categories(data: DemoData) -> None:
    assert len(data.items) == 400
    assert len(data.users) == 300
    assert len({i.id for i in data.items}) == 400
    leaves = Counter(i.category[-1] for i in data.items)
    assert len(leaves) == 20
    assert min(leaves.values()) >= 2
    # 2.5 % of the 380 warm items, rounded: 10 phones
    assert leaves["Phones"] == 10
    assert len(data.truth.cold_items) == 20  # 5 % of 400
    assert {i.currency for i in data.items} == {"USD"}
    assert all(
        i.price is not None and i.price > 0 and i.title and i.description for i in data.items
    )
    assert 0 < sum(not i.available for i in data.items) < 40
    # about 40 events per shopper; the full size is checked in the slow test
    assert 20 * 300 < len(data.events) < 60 * 300


def test_phone_complements_name_the_phone_and_point_to_it(
    data: DemoData, items: dict[str, Item]
) -> None:
    phones = [i for i in data.items if i.category[-1] == "Phones"]
    for phone in phones:
        comps = data.truth.complements[phone.id]
        cases = [c for c in comps if items[c].category[-1] == "Phone Cases"]
        assert cases, f"{phone.id} has no case"
        for c in comps:
            assert items[c].category[-1] in PHONE_ACCESSORIES
            assert phone.attributes["model"] in items[c].title
            assert items[c].attributes["compatible_with"] == phone.id
    made_for = [i for i in data.items if "compatible_with" in i.attributes]
    assert all(i.id in data.truth.complements[i.attributes["compatible_with"]] for i in made_for)


def test_rule_complements_share_the_attribute(data: DemoData, items: dict[str, Item]) -> None:
    rules = {
        "Cameras": ("Memory Cards", "card_format"),
        "Laptops": ("Laptop Bags", "screen_size"),
        "Coffee Makers": ("Coffee Beans", "brew_method"),
        "Running Shoes": ("Sports Socks", "terrain"),
    }
    for anchor in data.items:
        if anchor.category[-1] not in rules:
            continue
        leaf, attr = rules[anchor.category[-1]]
        expected = [
            i.id
            for i in data.items
            if i.category[-1] == leaf and i.attributes[attr] == anchor.attributes[attr]
        ]
        assert data.truth.complements[anchor.id] == expected


# -- events ----------------------------------------------------------------------------------
def test_events_are_valid_chronological_and_name_known_items(
    data: DemoData, items: dict[str, Item]
) -> None:
    start, end = data.truth.start, data.truth.end
    for n, e in enumerate(data.events, start=1):
        assert e.event_id == f"e{n:07d}"
        assert Event.model_validate(e.model_dump()) == e
        assert e.timestamp.tzinfo is UTC and start <= e.timestamp < end
        if e.kind is EventKind.SEARCH:
            assert e.item_id is None and e.query
        else:
            assert e.item_id in items and e.query is None
    times = [e.timestamp for e in data.events]
    assert times == sorted(times)
    assert {e.user_id for e in data.events} == {u.id for u in data.users}


def test_sessions_increase_in_time_and_view_before_cart_and_purchase(data: DemoData) -> None:
    sessions: dict[str | None, list[Event]] = defaultdict(list)
    for e in data.events:
        sessions[e.session_id].append(e)
    for events in sessions.values():
        assert len({e.user_id for e in events}) == 1
        stamps = [e.timestamp for e in events]
        assert all(a < b for a, b in zip(stamps, stamps[1:], strict=False))
        viewed: set[str | None] = set()
        for e in events:
            if e.kind is EventKind.VIEW:
                viewed.add(e.item_id)
            elif e.kind in (EventKind.ADD_TO_CART, EventKind.PURCHASE):
                assert e.item_id in viewed
    kinds = Counter(e.kind for e in data.events)
    assert set(kinds) == {
        EventKind.VIEW,
        EventKind.SEARCH,
        EventKind.ADD_TO_CART,
        EventKind.REMOVE_FROM_CART,
        EventKind.PURCHASE,
    }
    assert kinds[EventKind.VIEW] > kinds[EventKind.ADD_TO_CART] > kinds[EventKind.PURCHASE]


def test_phone_buyers_go_on_to_a_case_for_that_phone(
    data: DemoData, items: dict[str, Item], by_user: dict[str, list[Event]]
) -> None:
    buyers = data.truth.phone_buyers
    assert len(buyers) >= 20
    later_case = soon_accessory = 0
    for user, phone in buyers.items():
        events = by_user[user]
        k = next(
            j for j, e in enumerate(events) if e.kind is EventKind.PURCHASE and e.item_id == phone
        )
        after = [items[e.item_id] for e in events[k + 1 :] if e.kind is EventKind.VIEW]
        later_case += any(
            i.category[-1] == "Phone Cases" and i.attributes["compatible_with"] == phone
            for i in after
        )
        soon = [items[e.item_id] for e in events[k + 1 : k + 7] if e.item_id]
        soon_accessory += any(i.attributes.get("compatible_with") == phone for i in soon)
    # measured 0.96 (seed 7) and 0.88-0.92 on seeds 1-3
    assert later_case / len(buyers) >= 0.75
    assert soon_accessory / len(buyers) >= 0.75


def test_case_for_my_new_phone_queries_name_the_buyers_cases(
    data: DemoData, items: dict[str, Item]
) -> None:
    personal = [q for q in data.truth.queries if q.user_id is not None]
    assert personal
    for q in personal:
        assert q.text == "case for my new phone"
        phone = data.truth.phone_buyers[q.user_id]
        comps = data.truth.complements[phone]
        cases = [c for c in comps if items[c].category[-1] == "Phone Cases"]
        assert q.relevant == cases
        assert any(
            e.user_id == q.user_id and e.query == q.text
            for e in data.events
            if e.kind is EventKind.SEARCH
        )


def test_query_truth_matches_search_events(data: DemoData, items: dict[str, Item]) -> None:
    typed = {e.query for e in data.events if e.kind is EventKind.SEARCH}
    assert {q.text for q in data.truth.queries} == typed
    for q in data.truth.queries:
        assert q.relevant and all(r in items for r in q.relevant)
    # "galaxy s23 case" / "case for galaxy s23": the answers are exactly that phone's cases
    phones = {
        i.attributes["model"].lower(): i.id
        for i in items.values()
        if i.category == ["Electronics", "Phones"]
    }
    model_queries = 0
    for q in data.truth.queries:
        model = q.text.removesuffix(" case").removeprefix("case for ")
        if model in phones and q.text != model:
            model_queries += 1
            cases = [
                c for c in data.truth.complements[phones[model]] if "Case for" in items[c].title
            ]
            assert q.relevant == cases
    assert model_queries > 0


def test_cold_items_have_no_events_and_appear_after_them(
    data: DemoData, items: dict[str, Item]
) -> None:
    cold = set(data.truth.cold_items)
    assert not cold & {e.item_id for e in data.events}
    last = data.events[-1].timestamp
    assert all(items[c].created_at > last for c in cold)
    assert all(i.created_at < data.truth.start for i in data.items if i.id not in cold)
    new_cases = [c for c in cold if items[c].category[-1] == "Phone Cases"]
    assert len(new_cases) == 8  # 40 % of the 20 cold items, rounded up
    phones_with_events = {e.item_id for e in data.events}
    assert all(items[c].attributes["compatible_with"] in phones_with_events for c in new_cases)


def test_shoppers_stay_within_their_tastes(
    data: DemoData, items: dict[str, Item], by_user: dict[str, list[Event]]
) -> None:
    inside = total = 0
    for user, events in by_user.items():
        preferred = set(data.truth.taste[user].categories)
        views = [items[e.item_id] for e in events if e.kind is EventKind.VIEW]
        inside += sum(i.category[-1] in preferred for i in views)
        total += len(views)
    assert inside / total >= 0.7  # measured 0.81; uniform browsing would give about 0.13
    assert all(0 <= t.price_level <= 2 and t.brand for t in data.truth.taste.values())
    for u in data.users:
        assert u.created_at <= by_user[u.id][0].timestamp


def test_popularity_is_skewed(data: DemoData) -> None:
    views = Counter(e.item_id for e in data.events if e.kind is EventKind.VIEW)
    cold = set(data.truth.cold_items)
    counts = np.sort([views[i.id] for i in data.items if i.id not in cold])[::-1]
    top = counts[: len(counts) // 5].sum() / counts.sum()
    assert top >= 0.45  # measured 0.54; equal popularity would give 0.2


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="n_items=50"):
        generate(DemoConfig(n_items=50))
    with pytest.raises(ConfigError, match="cold_share"):
        DemoConfig(cold_share=0.9)
    with pytest.raises(ConfigError, match="n_users"):
        DemoConfig(n_users=0)


# -- store -----------------------------------------------------------------------------------
def test_build_demo_store_writes_everything_once(tmp_path: Path, data: DemoData) -> None:
    store = Store.open(tmp_path / "demo.db")
    written = build_demo_store(store, SMALL)
    assert fingerprint(written) == fingerprint(data)
    expected = {"items": 400, "users": 300, "events": len(data.events)}
    assert store.counts() == expected
    assert store.get_item(data.items[0].id) == data.items[0]
    frame = store.events_frame()
    assert frame["event_id"].tolist() == [e.event_id for e in data.events]
    build_demo_store(store, SMALL)
    assert store.counts() == expected
    assert store.stats()["events_by_kind"] == {
        k.value: n for k, n in sorted(Counter(e.kind for e in data.events).items())
    }
    store.close()


@pytest.mark.slow
def test_default_size(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "demo.db")
    data = build_demo_store(store)
    counts = store.counts()
    assert counts["items"] == 3000 and counts["users"] == 5000
    assert 150_000 <= counts["events"] <= 300_000
    assert len({i.category[-1] for i in data.items}) == 20
    assert len(data.truth.cold_items) == 150
    assert len(data.truth.phone_buyers) >= 300
    assert (data.truth.end - data.truth.start).days == 90
    store.close()
