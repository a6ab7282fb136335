"""Ground truth of the loop simulation (``benchmarks/loop_sim.py``): what a demo shopper clicks.

The demo store (:mod:`cartwise.data.sources.demo`) plants each shopper's tastes and the
accessories made for each anchor product; this module turns the generator's *own* browsing
model into a click probability for an item shown in a list, with every constant taken from the
generator (nothing here was fitted to the simulation's results):

- **Browsing.** The generator opens a session in a preferred category with probability
  ``_P_PREFERRED`` (0.8; the preferred ones weighted 0.55 / 0.3 / 0.15), else in a category
  drawn by its size; inside the category it views item ``i`` with probability proportional to
  ``w_i = popularity_i · _LEVEL_BOOST[|level_i − level_u|] · (_BRAND_BOOST if brand matches)``.
  So ``a_browse(u, i) = P(category of i) · w_i / Σ_{j in that category} w_j``.
- **Complements.** After buying an anchor (a phone, a camera, ...) the generator looks at its
  complements with probability ``_P_FOLLOW`` (0.9 phones, 0.7 else), choosing the kind by
  ``_KIND_WEIGHT`` and the item by ``w``. So a shopper who owns anchor ``a`` and has not bought
  a complement of kind ``K`` for it yet has ``a_comp(u, i) = P_follow · P(K) · w_i / Σ_K w``.
- **Click.** A browse session views ``2 + Poisson(2.6)`` items, 4.6 on average; an item shown
  in the list is clicked when the shopper would have viewed it in a session of their own:
  ``p(u, i) = 1 − (1 − min(1, a_browse + a_comp))^4.6``. Items the shopper bought: 0.
- **Purchase.** A click is followed by a purchase with the generator's cart and buy rates,
  ``_P_CART · _P_BUY`` (0.18). Buying an anchor makes its complements wanted; buying a
  complement satisfies that kind for that anchor.

New items (the demo's cold items, which the generator gives no popularity) get the same Zipf
law as their category: a rank drawn uniformly among the category's ``n + 1`` places,
weight ``rank^−1.05``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from cartwise.data.schema import EventKind, Item
from cartwise.data.sources import demo as generator
from cartwise.data.sources.demo import START, DemoConfig, DemoData, generate
from cartwise.data.sources.demo_catalog import build_catalog

#: Mean views of a generator browse session (``2 + Poisson(2.6)``).
VIEWS_PER_SESSION = 2 + 2.6
#: A click turns into a purchase at the generator's cart rate times its buy rate.
P_PURCHASE = generator._P_CART * generator._P_BUY
_PREFERRED_SHARE = (0.55, 0.3, 0.15)  # generator: preferred categories, most preferred first
_ZIPF = 1.05  # generator: popularity = rank ** -1.05 within a category


@dataclass
class Shopper:
    """A demo shopper's planted tastes and what they own (changes as they buy)."""

    user_id: str
    keys: tuple[str, ...]
    brand: str
    level: int
    bought: set[int] = field(default_factory=set)
    wanted: dict[int, set[str]] = field(default_factory=dict)  # anchor → kinds not bought yet


class World:
    """The demo store with its ground truth, as the simulation's shoppers see it.

    Args:
        config: the demo store to generate.
        seed: seed of the new items' popularity draw.
    """

    def __init__(self, config: DemoConfig, seed: int = 0) -> None:
        self.config = config
        self.data: DemoData = generate(config)
        self.end: datetime = START + timedelta(days=config.days)
        rng = np.random.default_rng(config.seed)  # generate() builds its catalog first: same one
        self.cat = build_catalog(rng, config.n_items, config.cold_share, START, self.end)
        if [i.id for i in self.cat.items] != [i.id for i in self.data.items]:
            raise RuntimeError("the rebuilt catalog differs from the generated one")
        self.index = {item.id: n for n, item in enumerate(self.cat.items)}
        self.keys = np.asarray(self.cat.keys)
        self.popularity = self.cat.popularity.copy()
        self.live = np.ones(len(self.cat.items), dtype=bool)
        self.live[self.cat.cold] = False
        brands: dict[str, int] = {}
        self.brand = np.asarray([brands.setdefault(i.brand, len(brands)) for i in self.cat.items])
        self.brands = brands
        self.comp_of: dict[int, list[tuple[int, str]]] = {}
        for anchor, kinds in self.cat.complements.items():
            for kind, members in kinds.items():
                for i in members:
                    self.comp_of.setdefault(i, []).append((anchor, kind))
        self.shoppers = self._shoppers()
        self.rng = np.random.default_rng(seed)

    def _shoppers(self) -> dict[str, Shopper]:
        leaf_key = {self.cat.leaf(k): k for k in set(self.cat.keys)}
        out = {
            uid: Shopper(uid, tuple(leaf_key[c] for c in t.categories), t.brand, t.price_level)
            for uid, t in self.data.truth.taste.items()
        }
        for event in self.data.events:
            if event.kind == EventKind.PURCHASE and event.item_id is not None:
                self.bought(out[event.user_id], self.index[event.item_id])
        return out

    def new_items(self) -> list[Item]:
        """The catalog change: the demo's cold items go on sale (text only, no events); they
        get the popularity law of their category. Returns them."""
        cold = np.asarray(self.cat.cold, dtype=np.int64)
        for key in sorted(set(self.keys[cold].tolist())):
            members = cold[self.keys[cold] == key]
            places = int((self.live & (self.keys == key)).sum()) + 1
            ranks = self.rng.integers(1, places + 1, size=len(members))
            self.popularity[members] = ranks.astype(float) ** -_ZIPF
        self.live[cold] = True
        return [self.cat.items[i] for i in cold.tolist()]

    def _weights(self, s: Shopper) -> np.ndarray:
        level = generator._LEVEL_BOOST[np.abs(self.cat.level - s.level)]
        brand = np.where(self.brand == self.brands.get(s.brand, -1), generator._BRAND_BOOST, 1.0)
        w: np.ndarray = self.popularity * level * brand * self.live
        return w

    def _category_share(self, s: Shopper) -> dict[str, float]:
        keys, counts = np.unique(self.keys[self.live], return_counts=True)
        other = 1.0 - generator._P_PREFERRED
        share = {str(k): other * c / counts.sum() for k, c in zip(keys, counts, strict=True)}
        pref = np.asarray(_PREFERRED_SHARE[: len(s.keys)])
        for key, p in zip(s.keys, pref / pref.sum(), strict=True):
            share[key] = share.get(key, 0.0) + generator._P_PREFERRED * float(p)
        return share

    def affinity(self, s: Shopper) -> np.ndarray:
        """Per item: the chance that the shopper views it in one browse step (see the module
        docstring), browsing and complements together, capped at 1."""
        w = self._weights(s)
        out = np.zeros(len(w))
        for key, p in self._category_share(s).items():
            members = self.keys == key
            total = w[members].sum()
            if total > 0:
                out[members] += p * w[members] / total
        for anchor, kinds in s.wanted.items():
            follow = generator._P_FOLLOW.get(str(self.keys[anchor]), 0.7)
            options = {k: [i for i in self.cat.complements[anchor][k] if self.live[i]]
                       for k in kinds}  # fmt: skip
            options = {k: v for k, v in options.items() if v}
            kind_w = {k: generator._KIND_WEIGHT.get(k, 1.0) for k in options}
            for kind, members in options.items():
                idx = np.asarray(members, dtype=np.int64)
                share = follow * kind_w[kind] / sum(kind_w.values())
                if w[idx].sum() > 0:
                    out[idx] += share * w[idx] / w[idx].sum()
        return np.minimum(out, 1.0)

    def click_probs(self, s: Shopper, item_ids: list[str]) -> np.ndarray:
        """Ground-truth click probability of each shown item for shopper `s`."""
        idx = np.asarray([self.index[i] for i in item_ids], dtype=np.int64)
        a = self.affinity(s)[idx]
        p: np.ndarray = 1.0 - (1.0 - a) ** VIEWS_PER_SESSION
        p[[i in s.bought for i in idx.tolist()]] = 0.0
        return p

    def bought(self, s: Shopper, item: int) -> None:
        """Record a purchase: an anchor's complements become wanted, a complement's kind is
        satisfied for its anchor."""
        s.bought.add(item)
        kinds = self.cat.complements.get(item)
        if kinds:
            s.wanted.setdefault(item, set(kinds))
        for anchor, kind in self.comp_of.get(item, []):
            if anchor in s.wanted:
                s.wanted[anchor].discard(kind)

    def respond(
        self, s: Shopper, item_ids: list[str], rng: np.random.Generator
    ) -> tuple[np.ndarray, list[str], list[str]]:
        """The shopper looks at a list: (click probabilities, clicked ids, bought ids)."""
        p = self.click_probs(s, item_ids)
        clicked = [i for i, hit in zip(item_ids, rng.random(len(p)) < p, strict=True) if hit]
        bought = [i for i in clicked if rng.random() < P_PURCHASE]
        for item in bought:
            self.bought(s, self.index[item])
        return p, clicked, bought


def true_effect(probs_a: list[float], probs_b: list[float]) -> float:
    """Expected CTR of arm B minus arm A: the mean click probability of each arm's impressions
    (clicks are Bernoulli draws of those probabilities, so this is what the observed CTR
    difference estimates)."""
    if not probs_a or not probs_b:
        raise ValueError("each arm needs at least one impression")
    return float(np.mean(probs_b) - np.mean(probs_a))
