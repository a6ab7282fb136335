"""The generator the settings ask for: local SmolLM2, an OpenAI-compatible endpoint, or none.

Kept apart from :mod:`cartwise.text.generator` so that neither the local nor the remote
generator imports the other.
"""

from __future__ import annotations

from cartwise.config import Settings
from cartwise.text.generator import LocalSmolLM2, TextGenerator
from cartwise.text.remote import OpenAICompatible


def make_generator(settings: Settings) -> TextGenerator | None:
    """The generator the settings ask for (``CARTWISE_GENERATOR``), or None for ``none``.

    Raises:
        ConfigError: the OpenAI-compatible endpoint is not configured or not allowed.
    """
    if settings.generator == "none":
        return None
    if settings.generator == "local":
        return LocalSmolLM2(threads=settings.generator_threads, seed=settings.seed)
    return OpenAICompatible.from_settings(settings)
