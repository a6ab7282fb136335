"""Deterministic synthetic demo store: the embedded default that ``make demo`` builds.

A catalog of about 3,000 products in 20 categories with real-looking text
(:mod:`cartwise.data.sources.demo_catalog`) and about 5,000 shoppers over 90 days. Each shopper has
persistent tastes (two or three preferred categories, a brand, a price level). Sessions move from
an optional search through views to add-to-cart, purchase or removal. Buying an anchor product
leads to its complements, usually within the same session: a phone to a case, screen protector or
charger made for that exact phone model (the case is found by searching "galaxy s23 case" or "case
for my new phone"), a camera to memory cards of its format, a laptop to a bag of its size, a
coffee maker to beans for its brew method, running shoes to socks for the same terrain.
Popularity is Zipf-like within each category. About 5 % of the products appear after the last
event (cold start), among them new cases for phones already on sale.

Everything comes from ``numpy.random.default_rng(seed)``: the same config gives byte-identical
items, users and events. :class:`DemoTruth` exposes what was planted, for tests and evaluations.

Example:
    >>> data = build_demo_store(Store.open("demo.db"))
    >>> data.truth.phone_buyers  # {"u00012": "i00007", ...}
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from tqdm import tqdm

from cartwise.data.schema import Event, EventKind, Item, User
from cartwise.data.sources.demo_catalog import (
    CATEGORIES,
    COMPLEMENT_RULES,
    TASTE_WEIGHTS,
    Catalog,
    build_catalog,
)
from cartwise.data.store import Store, to_epoch
from cartwise.errors import ConfigError

_log = logging.getLogger(__name__)

#: First instant of the simulated period (fixed, so that output does not depend on the clock).
START = datetime(2025, 1, 1, tzinfo=UTC)

_P_PREFERRED = 0.8  # share of browsing sessions in a preferred category
_P_SEARCH = 0.3  # browsing sessions that start with a search
_P_CART = 0.3  # browsing sessions that put a viewed item in the cart
_P_REMOVE, _P_BUY = 0.12, 0.6  # what happens to the cart item
_P_FOLLOW = {"phones": 0.9}  # purchases of an anchor followed by its complements (default 0.7)
_P_FOLLOW_LATER = 0.25  # complements looked at in a later session rather than the same one
_P_FOLLOW_SEARCH = {"phones": 0.55}  # follow-ups that start with a search (default 0.35)
_LEVEL_BOOST = np.array([2.5, 1.0, 0.35])  # by distance between item and shopper price level
_BRAND_BOOST = 4.0
_KIND_WEIGHT = {"phone_cases": 0.6, "screen_protectors": 0.25, "chargers": 0.15}
_NOUNS = {c.key: c.noun for c in CATEGORIES} | {
    "phones": "phone",
    "phone_cases": "phone case",
    "screen_protectors": "screen protector",
    "chargers": "phone charger",
}
_FOLLOW_QUERIES = {
    "cameras": "{v} memory card",
    "laptops": "laptop bag {v}",
    "coffee_makers": "coffee beans for {v}",
    "running_shoes": "{v} running socks",
}
_RULE_ATTR = {anchor: attr for anchor, _, attr in COMPLEMENT_RULES}
_EVENT_CHUNK = 50_000


@dataclass(frozen=True)
class DemoConfig:
    """Size and seed of the demo store.

    Attributes:
        seed: seed of ``numpy.random.default_rng``; the same config gives identical data.
        n_items: products in the catalog, cold ones included (at least 110).
        n_users: shoppers.
        days: length of the simulated period, starting at :data:`START`.
        cold_share: share of products created after the last event (no events at all).
    """

    seed: int = 7
    n_items: int = 3000
    n_users: int = 5000
    days: int = 90
    cold_share: float = 0.05

    def __post_init__(self) -> None:
        if self.n_users < 1:
            raise ConfigError(f"demo n_users={self.n_users}: needs at least 1 shopper")
        if self.days < 2:
            raise ConfigError(f"demo days={self.days}: the period must last at least 2 days")
        if not 0.0 <= self.cold_share <= 0.5:
            raise ConfigError(f"demo cold_share={self.cold_share}: use a share in [0, 0.5]")


@dataclass(frozen=True)
class UserTaste:
    """A shopper's planted tastes.

    Attributes:
        categories: preferred leaf categories (``item.category[-1]``), most preferred first.
        brand: preferred brand (boosts it in every category that sells it).
        price_level: 0 budget, 1 mid-range, 2 premium (price tertile within a category).
    """

    categories: tuple[str, ...]
    brand: str
    price_level: int


@dataclass(frozen=True)
class DemoQuery:
    """A search typed in the demo, with the items that truly answer it.

    Attributes:
        text: the query as typed.
        user_id: the shopper, when relevance depends on who asks ("case for my new phone").
        relevant: ids of the relevant items, cold items included.
    """

    text: str
    user_id: str | None
    relevant: list[str]


@dataclass
class DemoTruth:
    """What the generator planted, for tests and evaluations.

    Attributes:
        complements: anchor item id → its complementary item ids (cold ones included).
        taste: user id → tastes.
        cold_items: ids of the items created after the last event.
        phone_buyers: user id → id of the phone they bought (at most one per shopper).
        queries: searches typed in the demo with their relevant items (one per text, or per
            text and user when personal).
        start: first instant of the simulated period.
        end: end of the simulated period (every event is before it).
    """

    complements: dict[str, list[str]]
    taste: dict[str, UserTaste]
    cold_items: list[str]
    phone_buyers: dict[str, str]
    queries: list[DemoQuery]
    start: datetime
    end: datetime


@dataclass
class DemoData:
    """Items, users and chronological events of the demo store, and its ground truth."""

    items: list[Item]
    users: list[User]
    events: list[Event]
    truth: DemoTruth


def _user_id(index: int) -> str:
    return f"u{index + 1:05d}"


class _Simulation:
    """Shoppers one after the other; events collect in columns, sorted by time at the end."""

    def __init__(self, rng: np.random.Generator, catalog: Catalog, start: datetime, end: datetime):
        self.rng, self.cat = rng, catalog
        self.first_s, self.last_s = start.timestamp(), end.timestamp() - 6 * 3600
        brands: dict[str, int] = {}
        self.brand_code = np.asarray(
            [brands.setdefault(i.brand, len(brands)) for i in catalog.items]
        )
        self.brands = brands
        self.cold = np.zeros(len(catalog.items), dtype=bool)
        self.cold[catalog.cold] = True
        self.by_key: dict[str, list[int]] = {}
        for i, key in enumerate(catalog.keys):
            self.by_key.setdefault(key, []).append(i)
        self.browse_keys = list(catalog.warm)
        sizes = np.asarray([len(catalog.warm[k]) for k in self.browse_keys], dtype=float)
        self.browse_p = sizes / sizes.sum()
        self.primary = ["phones"] + [c.key for c in CATEGORIES if c.primary]
        weights = np.asarray([TASTE_WEIGHTS.get(k, 0.6) for k in self.primary])
        self.primary_p = weights / weights.sum()
        self.anchor_keys = {"phones", *_RULE_ATTR}
        self.ts: list[float] = []
        self.who: list[tuple[int, int, int]] = []  # (user, session, item or -1)
        self.what: list[tuple[str, str | None]] = []  # (kind, query)
        self.queries: dict[tuple[str, str | None], list[int]] = {}
        self.tastes: list[UserTaste] = []
        self.first_event: list[float] = []
        self.phone_buyers: dict[int, int] = {}
        self.n_sessions = 0

    # -- one shopper ---------------------------------------------------------------------
    def user(self, u: int) -> None:
        """Simulate every session of shopper `u`."""
        rng = self.rng
        self._u, self._owned, self._weights = u, set[str](), dict[str, np.ndarray]()
        self._keys, taste = self._taste()
        self.tastes.append(taste)
        self._brand, self._level = self.brands[taste.brand], taste.price_level
        n = min(40, int(rng.geometric(0.14)))
        starts = np.sort(rng.uniform(self.first_s, self.last_s, size=n))
        self.first_event.append(float(starts[0]))
        free, pending = self.first_s, None
        for begin in starts:
            if pending is not None:
                free, pending = self._later(pending, free), None
            if max(begin, free + 1800) >= self.last_s:
                break
            self._session(max(begin, free + 1800))
            anchor = self._browse()
            if anchor is not None and rng.random() < _P_FOLLOW.get(self.cat.keys[anchor], 0.7):
                if rng.random() < _P_FOLLOW_LATER:
                    pending = anchor
                else:
                    self._follow_up(anchor)
            free = self._t
        if pending is not None:
            self._later(pending, free)

    def _taste(self) -> tuple[tuple[str, ...], UserTaste]:
        rng, cat = self.rng, self.cat
        size = 2 + int(rng.random() < 0.5)
        picks = rng.choice(len(self.primary), size=size, replace=False, p=self.primary_p)
        keys = tuple(self.primary[i] for i in picks)
        first = cat.warm[keys[0]]
        pop = cat.popularity[first]
        brand = cat.items[int(first[rng.choice(len(first), p=pop / pop.sum())])].brand
        level = int(rng.choice(3, p=[0.35, 0.4, 0.25]))
        return keys, UserTaste(tuple(cat.leaf(k) for k in keys), brand, level)

    def _weigh(self, idx: np.ndarray) -> np.ndarray:
        w: np.ndarray = (
            self.cat.popularity[idx] * _LEVEL_BOOST[np.abs(self.cat.level[idx] - self._level)]
        )
        return w * np.where(self.brand_code[idx] == self._brand, _BRAND_BOOST, 1.0)

    def _session(self, begin: float) -> None:
        self._s, self._t = self.n_sessions, float(int(begin))
        self.n_sessions += 1

    def _later(self, anchor: int, free: float) -> float:
        begin = free + self.rng.uniform(3600, 36 * 3600)
        if begin >= self.last_s:
            return free
        self._session(begin)
        self._follow_up(anchor)
        return self._t

    def _emit(self, kind: str, item: int = -1, query: str | None = None) -> None:
        self._t += 5 + min(int(self.rng.exponential(40.0)), 600)
        self.ts.append(self._t)
        self.who.append((self._u, self._s, item))
        self.what.append((kind, query))

    # -- session kinds -------------------------------------------------------------------
    def _browse(self) -> int | None:
        """A browsing session; returns the anchor item bought, if any."""
        rng = self.rng
        if rng.random() < _P_PREFERRED:
            share = np.asarray([0.55, 0.3, 0.15][: len(self._keys)])
            key = self._keys[int(rng.choice(len(self._keys), p=share / share.sum()))]
        else:
            key = self.browse_keys[int(rng.choice(len(self.browse_keys), p=self.browse_p))]
        pool = self.cat.warm[key]
        if key not in self._weights:
            self._weights[key] = self._weigh(pool)
        weights = self._weights[key]
        if rng.random() < _P_SEARCH:
            relevant = self._search(key, pool, weights)
            keep = np.isin(pool, relevant)
            pool, weights = pool[keep], weights[keep]
        k = min(len(pool), 2 + int(rng.poisson(2.6)))
        # Gumbel top-k: k draws without replacement, in draw order, proportional to weights
        chosen = np.argsort(-(np.log(weights) + rng.gumbel(size=len(pool))))[:k]
        for c in chosen:
            self._emit("view", int(pool[c]))
        if rng.random() >= _P_CART:
            return None
        w = weights[chosen]
        return self._checkout(key, int(pool[chosen[rng.choice(k, p=w / w.sum())]]))

    def _checkout(self, key: str, item: int) -> int | None:
        self._emit("add_to_cart", item)
        r = self.rng.random()
        if r < _P_REMOVE:
            self._emit("remove_from_cart", item)
            return None
        if r >= _P_REMOVE + _P_BUY or key in self._owned:
            return None
        self._emit("purchase", item)
        if key not in self.anchor_keys:
            return None
        self._owned.add(key)
        if key == "phones":
            self.phone_buyers[self._u] = item
        return item

    def _search(self, key: str, pool: np.ndarray, weights: np.ndarray) -> list[int]:
        """Emit a search inspired by an item the shopper likes; returns the relevant items."""
        rng = self.rng
        item = self.cat.items[int(pool[rng.choice(len(pool), p=weights / weights.sum())])]
        noun, r, items = _NOUNS[key], rng.random(), self.cat.items
        facet = item.attributes["features"][0]
        if key == "phones" and r < 0.4:
            text = item.attributes["model"]
        elif r < 0.7:
            text = f"{noun} {facet}" if facet.startswith("with ") else f"{facet} {noun}"
        else:
            text = f"{item.brand} {noun}"
        text = text.lower()
        self._emit("search", query=text)
        if (text, None) not in self.queries:
            if key == "phones" and r < 0.4:
                relevant = [int(item.id[1:]) - 1]
            elif r < 0.7:
                relevant = [i for i in self.by_key[key] if facet in items[i].attributes["features"]]
            else:
                relevant = [i for i in self.by_key[key] if items[i].brand == item.brand]
            self.queries[(text, None)] = relevant
        return self.queries[(text, None)]

    def _follow_up(self, anchor: int) -> None:
        """Look at (and maybe buy) complements of a purchased anchor."""
        rng = self.rng
        comps = {
            k: [i for i in v if not self.cold[i]] for k, v in self.cat.complements[anchor].items()
        }
        kinds = [k for k, v in comps.items() if v]
        if not kinds:
            return
        key = self.cat.keys[anchor]
        if rng.random() < _P_FOLLOW_SEARCH.get(key, 0.35):
            self._follow_search(anchor, kinds[0])
        kind_p = np.asarray([_KIND_WEIGHT.get(k, 1.0) for k in kinds])
        seen: list[int] = []
        for step in range(min(4, 1 + int(rng.poisson(1.0)))):
            kind = kinds[0] if step == 0 else kinds[rng.choice(len(kinds), p=kind_p / kind_p.sum())]
            options = np.asarray([i for i in comps[kind] if i not in seen], dtype=np.int64)
            if len(options):
                w = self._weigh(options)
                seen.append(int(options[rng.choice(len(options), p=w / w.sum())]))
                self._emit("view", seen[-1])
        if rng.random() < 0.5:
            self._checkout(self.cat.keys[seen[0]], seen[0])

    def _follow_search(self, anchor: int, kind: str) -> None:
        item, key = self.cat.items[anchor], self.cat.keys[anchor]
        relevant = self.cat.complements[anchor][kind]
        user: str | None = None
        if key == "phones":
            model, r = item.attributes["model"].lower(), self.rng.random()
            if r < 0.35:
                text, user = "case for my new phone", _user_id(self._u)
            else:
                text = f"{model} case" if r < 0.75 else f"case for {model}"
        else:
            text = _FOLLOW_QUERIES[key].format(v=item.attributes[_RULE_ATTR[key]]).lower()
        self.queries.setdefault((text, user), list(relevant))
        self._emit("search", query=text)

    # -- results -------------------------------------------------------------------------
    def events(self) -> list[Event]:
        """All events in time order (ties: shopper order), ids ``e0000001``… in that order."""
        items = self.cat.items
        order = np.argsort(np.asarray(self.ts), kind="stable")
        width = max(7, len(str(len(order))))
        kinds = {k.value: k for k in EventKind}
        out = []
        for rank, i in enumerate(order.tolist()):
            (user, session, item), (kind, query) = self.who[i], self.what[i]
            out.append(
                Event(
                    event_id=f"e{rank + 1:0{width}d}",
                    user_id=_user_id(user),
                    session_id=f"s{session + 1:07d}",
                    item_id=items[item].id if item >= 0 else None,
                    kind=kinds[kind],
                    value=None if kind in ("view", "search") else 1.0,
                    query=query,
                    timestamp=datetime.fromtimestamp(self.ts[i], UTC),
                )
            )
        return out

    def users(self) -> list[User]:
        """One user per shopper, registered up to 60 days before their first session."""
        return [
            User(
                id=_user_id(u),
                created_at=datetime.fromtimestamp(
                    int(first - self.rng.uniform(0, 60 * 86400)), UTC
                ),
            )
            for u, first in enumerate(self.first_event)
        ]

    def truth(self, start: datetime, end: datetime) -> DemoTruth:
        """The planted structure, with external ids."""
        ids = [i.id for i in self.cat.items]
        complements = {
            ids[a]: [ids[i] for kind in comps.values() for i in kind]
            for a, comps in self.cat.complements.items()
        }
        return DemoTruth(
            complements=complements,
            taste={_user_id(u): t for u, t in enumerate(self.tastes)},
            cold_items=[ids[i] for i in self.cat.cold],
            phone_buyers={_user_id(u): ids[p] for u, p in sorted(self.phone_buyers.items())},
            queries=[
                DemoQuery(t, u, [ids[i] for i in rel]) for (t, u), rel in self.queries.items()
            ],
            start=start,
            end=end,
        )


def generate(config: DemoConfig | None = None) -> DemoData:
    """Generate the demo store in memory, deterministically from ``config.seed``.

    Raises:
        ConfigError: the config is too small (fewer than about 110 items).
    """
    config = config or DemoConfig()
    rng = np.random.default_rng(config.seed)
    end = START + timedelta(days=config.days)
    catalog = build_catalog(rng, config.n_items, config.cold_share, START, end)
    sim = _Simulation(rng, catalog, START, end)
    for u in range(config.n_users):
        sim.user(u)
    events = sim.events()
    data = DemoData(catalog.items, sim.users(), events, sim.truth(START, end))
    _log.info(
        "demo: %d items, %d users, %d events (seed %d)",
        len(data.items),
        len(data.users),
        len(events),
        config.seed,
    )
    return data


def fingerprint(data: DemoData) -> str:
    """sha256 over the JSON of every item, user and event: equal exactly when data is equal."""
    digest = hashlib.sha256()
    for record in (*data.items, *data.users, *data.events):
        digest.update(record.model_dump_json().encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _row(event: Event) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "user_id": event.user_id,
        "session_id": event.session_id,
        "item_id": event.item_id,
        "kind": str(event.kind),
        "value": event.value,
        "query": event.query,
        "ts": to_epoch(event.timestamp),
        "context": event.context or None,
    }


def build_demo_store(
    store: Store, config: DemoConfig | None = None, *, progress: bool = False
) -> DemoData:
    """Generate the demo and write it into `store` in one transaction.

    Idempotent: items and users are upserted and events carry fixed ids, so a second call with
    the same config leaves the store as it was.

    Args:
        store: where to write.
        config: size and seed (default: :class:`DemoConfig`).
        progress: show a progress bar (stderr) while events are written.

    Returns:
        The generated data with its ground truth.
    """
    data = generate(config)
    inserted = 0
    with store.batch() as batch:
        batch.upsert_items(data.items)
        batch.upsert_users(data.users)
        with tqdm(total=len(data.events), unit="event", disable=not progress) as bar:
            for begin in range(0, len(data.events), _EVENT_CHUNK):
                chunk = [_row(e) for e in data.events[begin : begin + _EVENT_CHUNK]]
                inserted += batch.append_event_rows(chunk).inserted
                bar.update(len(chunk))
    _log.info("demo store %s: %d new events of %d", store.url, inserted, len(data.events))
    return data
