"""What a scenario hands back: recommended items with scores and reasons, sponsored rankings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cartwise.data.schema import Item
from cartwise.ranking.explain import Explanation


@dataclass(frozen=True)
class Recommendation:
    """One recommended item with its score, a short reason and scenario-specific numbers; with
    ``explanation`` (when asked for) the evidence behind it and its phrased sentence."""

    item: Item
    score: float
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    explanation: Explanation | None = None


@dataclass(frozen=True)
class Served:
    """A ranked answer and the model version that produced it (None: no model was used).

    ``variant`` names the experiment and variant that answered (None outside experiments).
    ``message`` says why the list is empty or short when the caller should know (nothing
    matched a search). ``rendered`` is scratch space for renderings of the items (e.g. the
    service's JSON): a cached answer is handed out again as the same object, so they are made
    once.
    """

    version: str | None
    items: list[Recommendation]
    message: str | None = None
    rendered: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)
    #: (experiment id, variant name) when an A/B test's variant answered
    variant: tuple[str, str] | None = None


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
