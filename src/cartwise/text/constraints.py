"""Free text → structured shopping constraints ("cheap Nike running shoes under $80").

:func:`parse_request` asks a generator for JSON matching :class:`Constraints`, then checks the
answer against the request and the store: the JSON must validate, prices must be numbers the
shopper wrote, the category and brands must be the store's own, and the device must be named in
the text. Anything else — invalid JSON, a negative or invented price, min above max, an unknown
brand, a generator error — falls back to the rule-based reader (:mod:`cartwise.text.rules`).
The language model may phrase; it may not invent a filter.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cartwise.errors import CartwiseError
from cartwise.text import rules
from cartwise.text.generator import TextGenerator

_log = logging.getLogger(__name__)

Source = Literal["lm", "rules"]
_MAX_LISTED = 60  # names listed in the prompt; a longer catalog is cut (rules see all of them)


class Constraints(BaseModel):
    """What a shopper asked for. Every field is optional; empty means "no constraint".

    Attributes:
        category: one of the store's category names.
        brands: store brand names (any of them is acceptable).
        min_price: lowest acceptable price (≥ 0).
        max_price: highest acceptable price (≥ 0, ≥ min_price).
        price_level: "budget" ("cheap", "affordable") or "premium" ("high-end"), when said.
        keywords: other content words, lower case.
        compatible_with: device the product must fit ("iPhone 15 Pro").
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: str | None = None
    brands: list[str] = Field(default_factory=list)
    min_price: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    max_price: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    price_level: Literal["budget", "premium"] | None = None
    keywords: list[str] = Field(default_factory=list)
    compatible_with: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise ValueError(f"min_price {self.min_price} is above max_price {self.max_price}")
        return self


SYSTEM_PROMPT = """You turn a shopper's request into JSON. Reply with one JSON object and nothing \
else, with exactly these keys:
{"category": string or null, "brands": [strings], "min_price": number or null, \
"max_price": number or null, "price_level": "budget" or "premium" or null, \
"keywords": [strings], "compatible_with": string or null}
Rules: category must be one of the known categories or null. brands must be known brands. \
Prices are plain numbers the shopper wrote, never guessed. compatible_with is the device the \
product must fit, copied from the request. keywords are other important words, lower case."""

_EXAMPLES = (
    (
        "cheap Nike running shoes under $80",
        '{"category": "Running Shoes", "brands": ["Nike"], "min_price": null, "max_price": 80, '
        '"price_level": "budget", "keywords": [], "compatible_with": null}',
    ),
    (
        "clear case for iPhone 15 between 10 and 25 dollars",
        '{"category": "Phone Cases", "brands": [], "min_price": 10, "max_price": 25, '
        '"price_level": null, "keywords": ["clear"], "compatible_with": "iPhone 15"}',
    ),
)


def build_prompt(text: str, categories: list[str], brands: list[str]) -> str:
    """The user message: known names, two worked examples and the request."""
    lines = [
        "Known categories: " + ", ".join(categories[:_MAX_LISTED]),
        "Known brands: " + ", ".join(brands[:_MAX_LISTED]),
        "",
    ]
    for request, answer in _EXAMPLES:
        lines += [f"Request: {request}", f"JSON: {answer}", ""]
    lines += [f"Request: {text}", "JSON:"]
    return "\n".join(lines)


def _json_object(reply: str) -> object:
    """The first {...} block of a reply (models like to wrap JSON in prose or code fences)."""
    start, end = reply.find("{"), reply.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the reply")
    return json.loads(reply[start : end + 1])


def _canonical(name: str, known: dict[str, str], what: str) -> str:
    found = known.get(name.strip().lower())
    if found is None:
        raise ValueError(f"unknown {what} {name!r}")
    return found


def _numbers(text: str) -> set[float]:
    """Every number written in the text, with "2k" also read as 2000."""
    out: set[float] = set()
    for number, thousands in re.findall(r"(\d[\d,]*(?:\.\d+)?)(k\b)?", text, flags=re.I):
        value = float(number.replace(",", "")) if number.replace(",", "") else 0.0
        out.add(value * 1000 if thousands else value)
    return out


def _squash(text: str) -> str:
    return " ".join(text.lower().split())


def check_grounded(
    found: Constraints, text: str, categories: list[str], brands: list[str]
) -> Constraints:
    """`found` with store spellings, if it only uses the store's names and the text's facts.

    Raises:
        ValueError: unknown category or brand, a price not written in the text, or a device not
            named in the text.
    """
    cats = {c.lower(): c for c in categories}
    known_brands = {b.lower(): b for b in brands}
    category = None if found.category is None else _canonical(found.category, cats, "category")
    brand_list = [_canonical(b, known_brands, "brand") for b in found.brands]
    written = _numbers(text)
    for price in (found.min_price, found.max_price):
        if price is not None and price not in written:
            raise ValueError(f"price {price} is not written in the request")
    device = found.compatible_with
    if device is not None and " ".join(device.lower().split()) not in " ".join(
        text.lower().split()
    ):
        raise ValueError(f"device {device!r} is not named in the request")
    words = [w.lower() for w in found.keywords if w.strip()]
    return found.model_copy(
        update={"category": category, "brands": list(dict.fromkeys(brand_list)), "keywords": words}
    )


def parse_rules(
    text: str, *, known_categories: Iterable[str] = (), known_brands: Iterable[str] = ()
) -> Constraints:
    """Constraints read by the rules alone (see :mod:`cartwise.text.rules`)."""
    found = rules.read_rules(text, known_categories=known_categories, known_brands=known_brands)
    return Constraints(
        category=found.category,
        brands=found.brands,
        min_price=found.min_price,
        max_price=found.max_price,
        price_level=found.price_level,
        keywords=rules.keywords(text, found),
        compatible_with=found.compatible_with,
    )


def _ask(
    text: str, generator: TextGenerator, categories: list[str], brands: list[str]
) -> Constraints:
    reply = generator.generate(
        build_prompt(text, categories, brands), system=SYSTEM_PROMPT, max_new_tokens=160
    )
    found = Constraints.model_validate(_json_object(reply))
    return check_grounded(found, text, categories, brands)


def parse_request(
    text: str,
    generator: TextGenerator | None = None,
    *,
    known_categories: Iterable[str] = (),
    known_brands: Iterable[str] = (),
) -> tuple[Constraints, Source]:
    """Read a shopper's free-text request into constraints.

    Args:
        text: the request ("waterproof Anker charger for Galaxy S23 under 40 euros").
        generator: language model to ask first; None uses the rules only.
        known_categories: the store's category names (answers outside them are rejected).
        known_brands: the store's brand names (same).

    Returns:
        The constraints and where they came from: ``"lm"`` when the model's answer passed every
        check, else ``"rules"``.
    """
    categories, brands = list(dict.fromkeys(known_categories)), list(dict.fromkeys(known_brands))
    if generator is not None:
        try:
            return _ask(text, generator, categories, brands), "lm"
        except (ValueError, ValidationError) as exc:  # json and pydantic errors are ValueErrors
            _log.info("language-model constraints rejected (%s); using rules", exc)
        except CartwiseError as exc:
            _log.warning("generator %s failed (%s); using rules", generator.name, exc)
    return parse_rules(text, known_categories=categories, known_brands=brands), "rules"
