"""What the engine hands back: recommendations with reasons, and the model view behind them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cartwise.data.schema import Item
from cartwise.models.base import Recommender
from cartwise.ranking.catalog import CatalogIndex
from cartwise.ranking.filters import Filters, catalog_mask


@dataclass(frozen=True)
class Recommendation:
    """One recommended item with its score, a short reason and scenario-specific numbers."""

    item: Item
    score: float
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Served:
    """A ranked answer and the model version that produced it (None: no model was used).

    ``rendered`` is scratch space for renderings of the items (e.g. the service's JSON): a
    cached answer is handed out again as the same object, so they are made once.
    """

    version: str | None
    items: list[Recommendation]
    rendered: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class AdChoice:
    """A sponsored candidate ranked for a shopper.

    Attributes:
        item: fresh catalog row.
        bid: the advertiser's bid.
        probability: predicted engagement probability.
        relevance: share of catalog items this one beats for the shopper (0..1).
        expected_value: probability × bid.
    """

    item: Item
    bid: float
    probability: float
    relevance: float
    expected_value: float


@dataclass(frozen=True)
class AdRanking:
    """Eligible candidates by expected value, and the others with why they were left out."""

    version: str
    ranked: list[AdChoice]
    rejected: list[tuple[str, str]]


@dataclass(frozen=True, eq=False)
class ModelView:
    """A loaded model version aligned with one catalog snapshot.

    Attributes:
        version: the version's name.
        model: the loaded model.
        catalog: the catalog snapshot.
        rows: per model index, the item's catalog row (-1 when not in the catalog).
        shown: per model index, whether the item may be shown with no filter (available and
            in the catalog); set by :meth:`build`.
        hidden: the model indices `shown` rules out, in order; set by :meth:`build`.
        memo: things worked out once per view on first use (e.g. the cold-start tie-break).
    """

    version: str
    model: Recommender
    catalog: CatalogIndex
    rows: np.ndarray
    shown: np.ndarray | None = None
    hidden: np.ndarray | None = None
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, version: str, model: Recommender, catalog: CatalogIndex) -> ModelView:
        """Align `model`'s vocabulary with `catalog`."""
        assert model.items_ is not None
        rows = catalog.vocab_positions(model.items_)
        shown = cls(version, model, catalog, rows).vocab_mask(Filters())
        hidden = np.flatnonzero(~shown)
        for a in (shown, hidden):
            a.flags.writeable = False  # shared by every request without filters
        return cls(version, model, catalog, rows, shown, hidden)

    def hide(self, scores: np.ndarray, filters: Filters) -> None:
        """Set to -inf, in place, the scores of items not in the catalog or not passing
        `filters` (with no filter, by the indices worked out once per view: no mask pass)."""
        if filters.empty and self.hidden is not None:
            scores[self.hidden] = -np.inf
        else:
            scores[~self.vocab_mask(filters)] = -np.inf

    def vocab_mask(self, filters: Filters) -> np.ndarray:
        """Per model index: whether the item is in the catalog and passes `filters` (read-only
        when no filter applies: computed once per view)."""
        if filters.empty and self.shown is not None:
            return self.shown
        allowed = catalog_mask(self.catalog, filters)
        out = np.zeros(len(self.rows), dtype=bool)
        known = self.rows >= 0
        out[known] = allowed[self.rows[known]]
        return out

    def index(self, item_id: str) -> int | None:
        """The model index of an external item id, or None when the model does not know it."""
        assert self.model.items_ is not None
        return self.model.items_.get(item_id)

    def decode(self, indices: list[int]) -> list[str]:
        """Model indices → external item ids."""
        assert self.model.items_ is not None
        return self.model.items_.decode(indices)
