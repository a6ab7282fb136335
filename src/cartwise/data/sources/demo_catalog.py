"""Catalog of the demo store (:mod:`cartwise.data.sources.demo`): its tables and the item builder.

The tables, in ``demo_catalog.json`` beside this module, hold categories with brands, model
lines, features, attributes, price ranges and text templates, the phone models, and the
accessories that are made for one phone model. Brand and model names are real-looking so that
language models have something to read; the products, prices and everything shoppers do with
them are synthetic. :func:`build_catalog` turns the tables into items, deterministically from a
numpy Generator.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

import numpy as np

from cartwise.data.schema import Item
from cartwise.errors import ConfigError

Brand = tuple[str, float, tuple[str, ...]]
"""(brand, price factor, model lines); a line may hold ``{n}``, ``{a}`` and ``{b}`` slots."""

COLOURS = ("Black", "White", "Grey", "Navy Blue", "Red", "Green", "Beige", "Pink")


@dataclass(frozen=True)
class Category:
    """One leaf category of the demo catalog.

    Attributes:
        key: short identifier (``running_shoes``).
        path: category path, most general first; the last element is unique across categories.
        noun: what shoppers type for it (``running shoes``).
        weight: relative number of products.
        price: typical (low, high) price in USD.
        brands: brands with their price factor and model lines.
        facets: feature words used in titles, descriptions and search queries.
        title: title template (slots: brand, model, Facet, facet, colour and any attribute).
        blurb: description template (same slots, plus facet2).
        attrs: extra attributes (name, possible values).
        colours: colours to pick from; empty for products without colour.
        numbers: range of the ``{n}`` slot in model lines.
        words: values of the ``{a}`` and ``{b}`` slots in model lines.
        primary: whether it can be one of a shopper's preferred categories.
    """

    key: str
    path: tuple[str, ...]
    noun: str
    weight: float
    price: tuple[float, float]
    brands: tuple[Brand, ...]
    facets: tuple[str, ...]
    title: str
    blurb: str
    attrs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    colours: tuple[str, ...] = COLOURS
    numbers: tuple[int, int] = (1, 9)
    words: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
    primary: bool = True

    @property
    def leaf(self) -> str:
        """Last element of the path, the name tests and tastes use."""
        return self.path[-1]


PhoneAccessory = tuple[str, float, tuple[str, ...]]
"""(brand, price factor, lines) of accessories made for one phone model."""


def _tuples(value: Any) -> Any:
    """JSON lists → tuples, all the way down (the tables are immutable)."""
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _read_tables() -> dict[str, Any]:
    """The catalog tables from ``demo_catalog.json`` beside this module."""
    text = resources.files(__package__).joinpath("demo_catalog.json").read_text("utf-8")
    return {k: _tuples(v) for k, v in json.loads(text).items()}


_TABLES = _read_tables()
CATEGORIES: tuple[Category, ...] = tuple(Category(**row) for row in _TABLES["categories"])
# Phone models: brand -> "model:launch price" entries.
PHONES: tuple[tuple[str, str], ...] = _TABLES["phones"]
PHONE_COLOURS: tuple[str, ...] = _TABLES["phone_colours"]
PHONE_FACETS: tuple[str, ...] = _TABLES["phone_facets"]
# Accessories made for one phone model. Brands in MAKER_ONLY make accessories for their own
# phones only.
CASES: tuple[PhoneAccessory, ...] = _TABLES["cases"]
CASE_FACETS: tuple[str, ...] = _TABLES["case_facets"]
CASE_MATERIALS: tuple[str, ...] = _TABLES["case_materials"]
PROTECTORS: tuple[PhoneAccessory, ...] = _TABLES["protectors"]
PROTECTOR_FACETS: tuple[str, ...] = _TABLES["protector_facets"]
CHARGERS: tuple[PhoneAccessory, ...] = _TABLES["chargers"]
CHARGER_FACETS: tuple[str, ...] = _TABLES["charger_facets"]
MAKER_ONLY: tuple[str, ...] = _TABLES["maker_only"]

PHONE_PATH = ("Electronics", "Phones")
CASE_PATH = ("Electronics", "Phone Accessories", "Phone Cases")
PROTECTOR_PATH = ("Electronics", "Phone Accessories", "Screen Protectors")
CHARGER_PATH = ("Electronics", "Phone Accessories", "Chargers")

#: Anchor category key -> (complement category key, attribute both must share).
COMPLEMENT_RULES: tuple[tuple[str, str, str], ...] = (
    ("cameras", "memory_cards", "card_format"),
    ("laptops", "laptop_bags", "screen_size"),
    ("coffee_makers", "coffee_beans", "brew_method"),
    ("running_shoes", "sports_socks", "terrain"),
)

#: Catalog shares of the phone family (of the non-cold catalog).
PHONE_SHARES = {"phones": 0.025, "phone_cases": 0.11, "screen_protectors": 0.045, "chargers": 0.035}

#: How popular each category is as a shopper's taste (phones are a favourite; default 0.6).
TASTE_WEIGHTS = {
    "phones": 3.0, "headphones": 1.5, "running_shoes": 1.5, "laptops": 1.2, "novels": 1.2,
    "coffee_makers": 1.0, "cameras": 1.0,
}  # fmt: skip

PHONE_KEYS = ("phones", "phone_cases", "screen_protectors", "chargers")
_ACCESSORY_PATHS = {
    "phone_cases": CASE_PATH,
    "screen_protectors": PROTECTOR_PATH,
    "chargers": CHARGER_PATH,
}
_ACCESSORY_TABLES = {
    "phone_cases": (CASES, CASE_FACETS, (12.0, 45.0)),
    "screen_protectors": (PROTECTORS, PROTECTOR_FACETS, (8.0, 30.0)),
    "chargers": (CHARGERS, CHARGER_FACETS, (15.0, 60.0)),
}
_UNAVAILABLE_SHARE = 0.04
_COLD_CASE_SHARE = 0.4


@dataclass
class Catalog:
    """Items of the demo store with what the shopper simulation needs about them.

    Attributes:
        items: the products, ids ``i00001``…, warm ones first.
        keys: category key per item index (``phones``, ``phone_cases``, ``running_shoes``…).
        popularity: Zipf-like base weight per item within its category (0 for cold items).
        level: price level per item within its category (0 budget, 1 mid-range, 2 premium).
        warm: category key → indices of the items that existed during the simulated period.
        complements: anchor index → complement category key → complement indices (cold included).
        cold: indices of the items created after the period (no events).
    """

    items: list[Item]
    keys: list[str]
    popularity: np.ndarray
    level: np.ndarray
    warm: dict[str, np.ndarray]
    complements: dict[int, dict[str, list[int]]]
    cold: list[int]

    def leaf(self, key: str) -> str:
        """Leaf category name of a category key."""
        return _LEAVES[key]


_LEAVES = {c.key: c.leaf for c in CATEGORIES} | {
    "phones": PHONE_PATH[-1],
    "phone_cases": CASE_PATH[-1],
    "screen_protectors": PROTECTOR_PATH[-1],
    "chargers": CHARGER_PATH[-1],
}


def cap(text: str) -> str:
    """Upper-case the first letter of each word, leaving the rest (``4K video`` → ``4K Video``)."""
    return " ".join(w[:1].upper() + w[1:] for w in text.split(" "))


def phone_name(brand: str, model: str) -> str:
    """Full phone name as titles print it (``Samsung Galaxy S23``, ``iPhone 15``)."""
    return model if brand == "Apple" or model.startswith(brand) else f"{brand} {model}"


def phone_models() -> list[tuple[str, str, float]]:
    """All (brand, model, launch price) entries of :data:`PHONES`."""
    return [
        (brand, model, float(price))
        for brand, text in PHONES
        for model, price in re.findall(r"(.+?):(\d+)(?: |$)", text)
    ]


def _price(rng: np.random.Generator, low: float, high: float, factor: float) -> float:
    value = math.exp(rng.uniform(math.log(low), math.log(high))) * factor
    value = min(max(value, low * 0.6), high * 1.4)
    return round(value) - 0.01 if value >= 5 else round(value, 2)


def _allocate(total: int, weights: list[float], minimum: int) -> list[int]:
    """Split `total` into integer parts proportional to `weights`, each at least `minimum`."""
    rest = total - minimum * len(weights)
    raw = [rest * w / sum(weights) for w in weights]
    parts = [minimum + math.floor(r) for r in raw]
    by_fraction = sorted(range(len(raw)), key=lambda i: (-(raw[i] - math.floor(raw[i])), i))
    for i in by_fraction[: total - sum(parts)]:
        parts[i] += 1
    return parts


class _Builder:
    """Creates product rows in index order; an item's id follows from its index."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.rows: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.cold: list[bool] = []

    def pick(self, values: tuple[Any, ...] | list[Any], skew: float = 0.0) -> Any:
        weights = np.arange(1, len(values) + 1, dtype=float) ** -skew
        return values[int(self.rng.choice(len(values), p=weights / weights.sum()))]

    def add(self, key: str, path: tuple[str, ...], cold: bool, **row: Any) -> int:
        self.rows.append({"category": list(path), **row})
        self.keys.append(key)
        self.cold.append(cold)
        return len(self.rows) - 1

    def generic(self, cat: Category, cold: bool) -> int:
        rng = self.rng
        brand, factor, lines = self.pick(cat.brands, skew=0.6)
        words = [self.pick(w) if w else "" for w in cat.words]
        model = str(self.pick(lines)).format(
            n=int(rng.integers(cat.numbers[0], cat.numbers[1] + 1)), a=words[0], b=words[1]
        )
        f1, f2 = (cat.facets[i] for i in rng.choice(len(cat.facets), 2, replace=False))
        attrs: dict[str, Any] = {"model": model}
        attrs.update({name: self.pick(values) for name, values in cat.attrs})
        if cat.colours:
            attrs["colour"] = self.pick(cat.colours, skew=0.5)
        slots = {"brand": brand, "facet": f1, "Facet": cap(f1), "facet2": f2, **attrs}
        attrs["features"] = [f1, f2]
        return self.add(
            cat.key,
            cat.path,
            cold,
            title=cat.title.format(**slots),
            description=cat.blurb.format(**slots),
            brand=brand,
            price=_price(rng, *cat.price, factor),
            attributes=attrs,
        )

    def phone(self, brand: str, model: str, launch: float) -> int:
        rng = self.rng
        storage = self.pick(("128GB", "256GB", "512GB"), skew=1.0)
        colour = self.pick(PHONE_COLOURS)
        f1, f2 = (PHONE_FACETS[i] for i in rng.choice(len(PHONE_FACETS), 2, replace=False))
        screen, camera = self.pick((6.1, 6.4, 6.7)), self.pick((12, 48, 50, 108, 200))
        full = phone_name(brand, model)
        factor = {"128GB": 1.0, "256GB": 1.12, "512GB": 1.35}[storage] * rng.uniform(0.8, 1.0)
        return self.add(
            "phones",
            PHONE_PATH,
            False,
            title=f"{full} {cap(f1)} Smartphone, {storage}, {colour}",
            description=(
                f"{full} smartphone with {storage} of storage, a {screen}-inch display and a "
                f"{camera} MP main camera; {f1}, {f2}. Colour: {colour}."
            ),
            brand=brand,
            price=round(launch * factor) - 0.01,
            attributes={
                "model": model,
                "storage": storage,
                "colour": colour,
                "screen_in": screen,
                "features": [f1, f2],
            },
        )

    def accessory(self, key: str, phone: int, cold: bool) -> int:
        table, facets, (low, high) = _ACCESSORY_TABLES[key]
        phone_row = self.rows[phone]
        full = phone_name(phone_row["brand"], phone_row["attributes"]["model"])
        makers = [b for b in table if b[0] not in MAKER_ONLY or b[0] == phone_row["brand"]]
        brand, factor, lines = self.pick(makers, skew=0.5)
        line, facet = self.pick(lines), self.pick(facets)
        attrs: dict[str, Any] = {"compatible_with": f"i{phone + 1:05d}", "compatible_model": full}
        if key == "phone_cases":
            material, colour = self.pick(CASE_MATERIALS), self.pick(COLOURS, skew=0.5)
            title = f"{brand} {line} {cap(facet)} Case for {full}, {colour}"
            text = f"{cap(facet)} {material} case by {brand}, made for the {full}: raised edges "
            text += f"protect the screen and camera. Colour: {colour}."
            attrs |= {"material": material, "colour": colour}
        elif key == "screen_protectors":
            pack = self.pick(("1-Pack", "2-Pack", "3-Pack"))
            title = f"{brand} {line} {cap(facet)} Screen Protector for {full}, {pack}"
            text = f"{cap(facet)} screen protector by {brand}, cut for the {full}; comes with an "
            text += f"installation frame. {pack}."
            attrs["pack"] = pack
        else:
            title = f"{brand} {line} for {full}, {cap(facet)}"
            text = f"{cap(facet)} charger by {brand} for the {full}; charges at full speed."
        attrs["features"] = [facet]
        return self.add(
            key,
            _ACCESSORY_PATHS[key],
            cold,
            title=title,
            description=text,
            brand=brand,
            price=_price(self.rng, low, high, factor),
            attributes=attrs,
        )


def build_catalog(
    rng: np.random.Generator, n_items: int, cold_share: float, start: datetime, end: datetime
) -> Catalog:
    """Build the demo catalog: phones with accessories made for them, the other categories,
    and ``round(n_items * cold_share)`` cold items created at `end` (40 % of them new cases for
    phones already on sale).

    Raises:
        ConfigError: `n_items` is too small to hold every category.
    """
    n_cold = round(n_items * cold_share)
    n_warm = n_items - n_cold
    if n_warm < 100:
        raise ConfigError(
            f"n_items={n_items} with cold_share={cold_share} leaves {n_warm} warm items; the "
            "demo needs at least 100 to fill its categories: raise n_items"
        )
    builder = _Builder(rng)
    phones = _add_phones(builder, n_warm)
    weights = [c.weight for c in CATEGORIES]
    for cat, count in zip(
        CATEGORIES, _allocate(n_warm - len(builder.rows), weights, 2), strict=True
    ):
        for _ in range(count):
            builder.generic(cat, cold=False)
    _add_cold(builder, phones, n_cold)
    return _finish(builder, start, end)


def _phone_share(n_phones: int) -> np.ndarray:
    share: np.ndarray = np.arange(1, n_phones + 1, dtype=float) ** -0.6
    total = float(share.sum())
    return share / total


def _add_phones(builder: _Builder, n_warm: int) -> list[int]:
    models = phone_models()
    n_phones = min(len(models), max(2, round(PHONE_SHARES["phones"] * n_warm)))
    phones = [builder.phone(*models[i]) for i in builder.rng.permutation(len(models))[:n_phones]]
    share = _phone_share(n_phones)
    for key in ("phone_cases", "screen_protectors", "chargers"):
        count = max(1, round(PHONE_SHARES[key] * n_warm))
        owners = list(range(n_phones)) if key == "phone_cases" else []
        if count > len(owners):
            owners += builder.rng.choice(n_phones, size=count - len(owners), p=share).tolist()
        for owner in sorted(owners):
            builder.accessory(key, phones[owner], cold=False)
    return phones


def _add_cold(builder: _Builder, phones: list[int], n_cold: int) -> None:
    n_cases = math.ceil(n_cold * _COLD_CASE_SHARE)
    owners = builder.rng.choice(len(phones), size=n_cases, p=_phone_share(len(phones)))
    for owner in sorted(owners.tolist()):
        builder.accessory("phone_cases", phones[owner], cold=True)
    weights = [c.weight for c in CATEGORIES]
    for cat, count in zip(CATEGORIES, _allocate(n_cold - n_cases, weights, 0), strict=True):
        for _ in range(count):
            builder.generic(cat, cold=True)


def _finish(builder: _Builder, start: datetime, end: datetime) -> Catalog:
    rng, rows, keys = builder.rng, builder.rows, builder.keys
    n = len(rows)
    cold = np.asarray(builder.cold, dtype=bool)
    popularity, level = np.zeros(n), np.zeros(n, dtype=np.int64)
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    warm: dict[str, np.ndarray] = {}
    for key, members in groups.items():
        idx = np.asarray(members, dtype=np.int64)
        warm[key] = idx[~cold[idx]]
        # phones keep build order, in which the popular ones got the most accessories
        order = np.arange(len(warm[key])) if key == "phones" else rng.permutation(len(warm[key]))
        popularity[warm[key][order]] = np.arange(1, len(warm[key]) + 1, dtype=float) ** -1.05
        prices = np.asarray([rows[i]["price"] for i in members])
        level[idx] = 3 * np.argsort(np.argsort(prices, kind="stable"), kind="stable") // len(idx)
    unavailable = ~cold & (rng.random(n) < _UNAVAILABLE_SHARE)
    items = []
    for i, row in enumerate(rows):
        if cold[i]:  # launched in the hours after the last simulated event
            created = end + timedelta(seconds=int(rng.integers(60, 6 * 3600)))
        else:
            created = start - timedelta(seconds=int(rng.integers(20 * 86400, 720 * 86400)))
        items.append(
            Item(id=f"i{i + 1:05d}", available=not unavailable[i], created_at=created, **row)
        )
    cold_list = np.flatnonzero(cold).tolist()
    return Catalog(items, keys, popularity, level, warm, _complements(rows, keys), cold_list)


def _complements(rows: list[dict[str, Any]], keys: list[str]) -> dict[int, dict[str, list[int]]]:
    out: dict[int, dict[str, list[int]]] = {}
    for i, key in enumerate(keys):
        if key in _ACCESSORY_TABLES:
            phone = int(rows[i]["attributes"]["compatible_with"][1:]) - 1
            out.setdefault(phone, {}).setdefault(key, []).append(i)
    for anchor, comp, attr in COMPLEMENT_RULES:
        by_value: dict[Any, list[int]] = {}
        for i, key in enumerate(keys):
            if key == comp:
                by_value.setdefault(rows[i]["attributes"][attr], []).append(i)
        for i, key in enumerate(keys):
            if key == anchor:
                out[i] = {comp: by_value.get(rows[i]["attributes"][attr], [])}
    return out
