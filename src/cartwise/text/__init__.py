"""Language models over text: sentence encoders, generators, request parsing and redaction.

Heavy libraries (sentence-transformers, transformers, httpx) are imported only when a model is
first used, so importing this package is cheap and works without the ``[lm]`` extra.
"""

from cartwise.text.constraints import Constraints, parse_request, parse_rules
from cartwise.text.encoder import (
    CachedEncoder,
    HashingEncoder,
    SentenceTransformerEncoder,
    TextEncoder,
)
from cartwise.text.factory import make_generator
from cartwise.text.generator import (
    FakeGenerator,
    LocalSmolLM2,
    RedactingGenerator,
    TextGenerator,
)
from cartwise.text.privacy import redact
from cartwise.text.remote import OpenAICompatible

__all__ = [
    "CachedEncoder",
    "Constraints",
    "FakeGenerator",
    "HashingEncoder",
    "LocalSmolLM2",
    "OpenAICompatible",
    "RedactingGenerator",
    "SentenceTransformerEncoder",
    "TextEncoder",
    "TextGenerator",
    "make_generator",
    "parse_request",
    "parse_rules",
    "redact",
]
