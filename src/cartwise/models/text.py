"""Content model: recommendations from item text vectors alone (cold start, item-to-item).

Each item's text (title, categories, brand, description) goes through a sentence encoder once;
the unit vectors are kept (in the store's cache when ``encoder_cache`` names one, and in the saved
model), so an item with no events is as recommendable as a best seller.

- ``similar_items(i)``: cosine of the item vectors, ``s_j = v_j · v_i``.
- ``score(history)``: cosine with a recency-weighted profile of the latest items,
  ``p = Σ_a decay^a · v_{h_{-1-a}}`` over the last ``max_history`` items (a = 0 is the newest),
  ``s_j = v_j · p / ‖p‖`` (:func:`profile_weights`, which the transfer model's text path
  shares). Items without text have the zero vector and score 0; an empty history
  (or one whose items have no text) gets the training popularity.

The encoder is named by the config (``"all-MiniLM-L6-v2"``, ``"hashing-<dim>"`` or a
sentence-transformers folder) or injected as an object: ``ContentModel(config, encoder=enc)``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cartwise.data.dataset import Dataset
from cartwise.errors import ConfigError, ModelError, NotFittedError
from cartwise.models.base import Query, Recommender, Scored, top_k
from cartwise.models.histories import popularity_prior
from cartwise.text.encoder import (
    MINILM,
    CachedEncoder,
    HashingEncoder,
    SentenceTransformerEncoder,
    TextEncoder,
)

_log = logging.getLogger(__name__)

_HASHING = re.compile(r"hashing-(\d+)")


def make_encoder(name: str, cache: Path | None = None) -> TextEncoder:
    """The encoder a config names, wrapped in the SQLite/PostgreSQL vector cache if given.

    Args:
        name: ``"all-MiniLM-L6-v2"`` (bundled, offline), ``"hashing-<dim>"`` (deterministic
            test/dev encoder) or the path of a sentence-transformers folder.
        cache: a store path or URL whose ``text_vectors`` table caches the vectors.
    """
    found = _HASHING.fullmatch(name)
    encoder: TextEncoder = (
        HashingEncoder(int(found.group(1))) if found else SentenceTransformerEncoder(name)
    )
    if cache is None:
        return encoder
    from cartwise.data.store import Store  # late: the store pulls in SQLAlchemy tables

    return CachedEncoder(encoder, Store.open(cache))


def item_vectors(data: Dataset, encoder: TextEncoder, *, progress: bool = False) -> np.ndarray:
    """Unit text vectors per item index, shape (n_items + 1, dim) float32.

    Row 0 (padding) and items with empty text are zero rows, never sent to the encoder.
    """
    texts = [t.strip() for t in data.item_text]
    rows = [i for i in range(1, len(texts)) if texts[i]]
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    if rows:
        encoded = encoder.encode([texts[i] for i in rows], progress=progress)
        if encoded.shape != (len(rows), encoder.dim):
            raise ModelError(
                f"encoder {encoder.name} returned shape {encoded.shape} for {len(rows)} texts; "
                f"expected ({len(rows)}, {encoder.dim})"
            )
        out[rows] = encoded
    missing = data.n_items - len(rows)
    if missing:
        _log.info("%s: %d of %d items have no text (zero vector)", data.name, missing, data.n_items)
    return out


def profile_weights(length: int, max_history: int, decay: float) -> np.ndarray:
    """The content profile's weights for every prefix of a history of `length` items.

    Row i weighs the items at positions j ≤ i (oldest first) by ``decay^(i - j)`` for the
    `max_history` latest of them, 0 otherwise: ``weights @ vectors[history]`` is, row by row,
    the (unnormalised) profile of the history up to position i. Shape (length, length)
    float64, lower-triangular; the last row is the profile of the whole history.
    """
    age = np.arange(length)[:, None] - np.arange(length)[None, :]  # (T, T): i - j
    inside = (age >= 0) & (age < max_history)
    weights: np.ndarray = np.where(inside, float(decay) ** np.clip(age, 0, None), 0.0)
    return weights


class ContentConfig(BaseModel):
    """Settings of :class:`ContentModel`.

    Attributes:
        encoder: ``"all-MiniLM-L6-v2"``, ``"hashing-<dim>"`` or a sentence-transformers folder.
        encoder_cache: store path/URL caching the vectors (None: encode every fit).
        max_history: latest history items in the profile.
        recency_decay: weight ratio between an item and the next newer one (1: plain mean).
        progress: show the encoder's progress bar.
    """

    model_config = ConfigDict(extra="forbid")

    encoder: str = MINILM
    encoder_cache: Path | None = None
    max_history: int = Field(default=20, ge=1)
    recency_decay: float = Field(default=0.8, gt=0.0, le=1.0)
    progress: bool = False


class ContentModel(Recommender):
    """Recommends items whose text is closest to what the shopper looked at last."""

    name: ClassVar[str] = "content"
    config_class: ClassVar[type[BaseModel]] = ContentConfig
    config: ContentConfig

    def __init__(
        self,
        config: ContentConfig | dict[str, Any] | None = None,
        *,
        encoder: TextEncoder | None = None,
    ) -> None:
        super().__init__(config)
        if encoder is not None and not isinstance(encoder, TextEncoder):
            raise ConfigError("content: encoder must implement TextEncoder (name, dim, encode)")
        self.encoder = encoder
        self.vectors_: np.ndarray | None = None
        self.prior_: np.ndarray | None = None

    def _fit(self, data: Dataset, rng: np.random.Generator, valid: Any) -> None:
        cfg = self.config
        encoder = self.encoder or make_encoder(cfg.encoder, cfg.encoder_cache)
        self.vectors_ = item_vectors(data, encoder, progress=cfg.progress)
        self.prior_ = popularity_prior(data.item_counts)

    @property
    def _state(self) -> tuple[np.ndarray, np.ndarray]:
        if self.vectors_ is None or self.prior_ is None:
            raise NotFittedError("content is not fitted; call fit() or load() first")
        return self.vectors_, self.prior_

    def profiles(self, queries: Sequence[Query]) -> np.ndarray:
        """Unit recency-weighted profile per query, (len(queries), dim); zero rows when the
        history is empty or has no text."""
        vectors, _ = self._state
        cfg = self.config
        out = np.zeros((len(queries), vectors.shape[1]), dtype=np.float32)
        for row, q in enumerate(queries):
            recent = q.history[-cfg.max_history :]  # oldest first
            if recent.size:
                weights = profile_weights(recent.size, cfg.max_history, cfg.recency_decay)[-1]
                out[row] = weights @ vectors[recent]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        result: np.ndarray = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
        return result

    def _score_histories(self, queries: Sequence[Query]) -> np.ndarray:
        vectors, prior = self._state
        profiles = self.profiles(queries)  # (B, E)
        scores: np.ndarray = profiles @ vectors.T  # (B, V)
        empty = ~profiles.any(axis=1)
        scores[empty] = prior
        return scores

    def similar_items(self, item: int, k: int = 10) -> list[Scored]:
        """Items whose text vectors have the highest cosine with `item`'s."""
        vectors, _ = self._state
        if not 1 <= item < len(vectors):
            raise ModelError(f"item index {item} is outside 1..{len(vectors) - 1}")
        sims = vectors @ vectors[item]  # (V,)
        sims[0] = -np.inf
        return top_k(sims, k, exclude=[item])

    def _extra(self) -> dict[str, Any]:
        return {"dim": int(self._state[0].shape[1])}

    def _arrays(self) -> dict[str, np.ndarray]:
        vectors, prior = self._state
        return {"vectors": vectors, "prior": prior}

    def _set_arrays(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        vectors = arrays["vectors"].astype(np.float32)
        if vectors.shape[0] != len(self._vocab):
            raise ModelError(
                f"saved content vectors have {vectors.shape[0]} rows for {len(self._vocab)} "
                "vocabulary slots; the model folder is inconsistent, save it again"
            )
        self.vectors_ = vectors
        self.prior_ = arrays["prior"].astype(np.float32)
