"""Engine: the one object the CLI and the service call.

It ties a Store to saved model versions: trains a model on a snapshot of the store, saves it as
a version directory, marks it active, and answers recommendation requests by reading the
shopper's *latest* events from the store at request time (so a click counts without
retraining), then applying business rules (availability, already purchased).

Model versions are plain directories managed by :mod:`cartwise.lifecycle`. Nothing is held in
module globals: several engines (or processes) can share one store and model folder.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cartwise.data.dataset import Dataset
from cartwise.data.schema import POSITIVE_KINDS, EventKind, Item
from cartwise.data.store import Store
from cartwise.errors import ModelError, NotFoundError
from cartwise.lifecycle import Versions
from cartwise.models.base import Query, Recommender, Rng, top_k
from cartwise.models.registry import MODELS, model_class

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recommendation:
    """One recommended item with its score and a short reason."""

    item: Item
    score: float
    reason: str


class Engine:
    """Store + active model + business rules."""

    def __init__(self, store: Store, model_dir: Path | str) -> None:
        self.store = store
        self.versions = Versions(model_dir)
        self._model: Recommender | None = None
        self._version: str | None = None

    # -- training and versions --------------------------------------------------------------
    def train(
        self,
        model_name: str,
        config: dict[str, Any] | None = None,
        *,
        rng: Rng = None,
        activate: bool = True,
    ) -> str:
        """Fit `model_name` on the store's current events; save and (by default) activate it.

        Returns the new version name.
        """
        data = Dataset.from_store(self.store)
        started = time.perf_counter()
        model = model_class(model_name)(config).fit(data, rng=rng)
        info = {
            "trained_at": datetime.now(UTC).isoformat(),
            "train_seconds": time.perf_counter() - started,
            "users": data.n_users,
            "items": data.n_items,
            "interactions": data.n_interactions,
        }
        version = self.versions.save(model, info)
        if activate:
            self.versions.activate(version)
        return version

    def active_version(self) -> str | None:
        """The active version's name, or None when nothing was trained yet."""
        return self.versions.active()

    def model(self) -> Recommender:
        """The active model, loaded once per version (a newly activated one is picked up)."""
        version = self.versions.active()
        if version is None:
            raise ModelError(
                f"no trained model in {self.versions.root}; run 'cartwise train' or 'cartwise demo'"
            )
        if self._model is None or self._version != version:
            self._model = self.versions.load(version)
            self._version = version
        return self._model

    # -- recommendations ----------------------------------------------------------------------
    def history(self, user_id: str, limit: int = 200) -> list[str]:
        """The shopper's latest item ids (positive events), oldest first."""
        events = self.store.user_events(user_id, kinds=POSITIVE_KINDS, limit=limit)
        return [e.item_id for e in events if e.item_id is not None]

    def recommend(
        self, user_id: str, k: int = 10, *, exclude_purchased: bool = True
    ) -> list[Recommendation]:
        """Top-k available items for a shopper; unknown shoppers get the cold-start ranking."""
        model = self.model()
        vocab = model.items_
        assert vocab is not None
        history = vocab.encode(self.history(user_id), skip_unknown=True)
        exclude: set[int] = set()
        if exclude_purchased:
            bought = self.store.user_events(user_id, kinds=[EventKind.PURCHASE])
            exclude = set(vocab.encode([e.item_id for e in bought if e.item_id], skip_unknown=True))
        scores = model.score(Query(history))
        wanted = min(len(scores) - 1, k * 4 + len(exclude))
        ranked = top_k(scores, wanted, np.asarray(sorted(exclude), dtype=np.int64))
        out: list[Recommendation] = []
        for s in ranked:
            try:
                item = self.store.get_item(vocab.decode([s.item])[0])
            except NotFoundError:
                continue
            if not item.available:
                continue
            reason = (
                f"based on your {history.size} most recent interactions"
                if history.size
                else "trending in the store (no history yet)"
            )
            out.append(Recommendation(item, s.score, reason))
            if len(out) == k:
                break
        return out


def available_models() -> list[str]:
    """Names of the registered models."""
    return sorted(MODELS)
