"""What every scenario works with: the engine's parts, passed explicitly.

The scenarios (:mod:`cartwise.serving.scenarios`) are plain functions of a :class:`Context` and
the request; the :class:`~cartwise.serving.engine.Engine` builds one context and hands it to
them. Nothing here holds a request's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cartwise.data.catalog import CatalogIndex, ItemRows
from cartwise.data.store import Store
from cartwise.errors import ModelError
from cartwise.ranking.explain import Explainer, catalog_names
from cartwise.search import Blender, TextMatcher
from cartwise.serving.active import ActiveModel, ModelView
from cartwise.serving.cache import AnswerCache
from cartwise.serving.catalog import CatalogSnapshot, PerCatalog
from cartwise.serving.phrasing import Phraser
from cartwise.serving.scorer import Scorer


@dataclass
class Context:
    """The parts a scenario may use.

    Attributes:
        store: the shop's data (histories, fresh item rows, co-purchases).
        rows: fresh item rows, reusing the record of an unchanged row.
        scorer: runs model computations on the scoring thread.
        answers: finished answers, validated on fresh rows at every hit.
        active: the active model version.
        catalog: the catalog snapshot.
        matchers: the search matcher per catalog snapshot.
        compatible: per catalog snapshot, item id → rows of the items made for it.
        blender: mixes search relevance with the shopper's model scores.
        explainer: phrases explanations from their evidence (None: templates).
        phraser: runs the explainer's generator in the background (None: no generator).
        explain_budget: seconds a request waits for phrased explanations.
        names: per catalog snapshot, its titles and brands (the grounding check's list).
    """

    store: Store
    rows: ItemRows
    scorer: Scorer
    answers: AnswerCache
    active: ActiveModel
    catalog: CatalogSnapshot
    matchers: PerCatalog[TextMatcher]
    compatible: PerCatalog[dict[str, np.ndarray]]
    blender: Blender
    explainer: Explainer | None = None
    phraser: Phraser | None = None
    explain_budget: float = 0.25
    names: PerCatalog[list[str]] = field(
        default_factory=lambda: PerCatalog(
            lambda c: catalog_names(c.fields["title"], c.fields["brand"])
        )
    )

    def use_explainer(self, explainer: Explainer | None) -> None:
        """Phrase explanations with `explainer` from now on (a new phrasing cache)."""
        self.explainer = explainer
        has_generator = explainer is not None and explainer.generator is not None
        self.phraser = Phraser(explainer) if has_generator and explainer else None

    def view(self) -> ModelView:
        """The active model aligned with the current catalog (ModelError when none)."""
        return self.active.view(self.catalog.current())

    def view_or_none(self) -> ModelView | None:
        """:meth:`view`, or None when no model is trained yet."""
        try:
            return self.view()
        except ModelError:
            return None

    def snapshot(self) -> CatalogIndex:
        """The current catalog snapshot."""
        return self.catalog.current()
