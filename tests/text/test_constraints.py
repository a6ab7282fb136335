"""Free text → constraints: the LM path with its checks, and the rule-based fallback."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from cartwise.errors import ModelError
from cartwise.text.constraints import Constraints, build_prompt, parse_request, parse_rules
from cartwise.text.generator import FakeGenerator

CATEGORIES = ["Running Shoes", "Phone Cases", "Headphones", "Chargers", "Shoes"]
BRANDS = ["Nike", "Samsung", "Apple", "Anker", "On", "Sony"]
KNOWN = {"known_categories": CATEGORIES, "known_brands": BRANDS}


def lm(**fields: object) -> str:
    base: dict[str, object] = {
        "category": None,
        "brands": [],
        "min_price": None,
        "max_price": None,
        "price_level": None,
        "keywords": [],
        "compatible_with": None,
    }
    return json.dumps(base | fields)


def test_constraints_validate_prices() -> None:
    assert Constraints(min_price=10, max_price=10).max_price == 10
    with pytest.raises(ValidationError, match="above max_price"):
        Constraints(min_price=50, max_price=20)
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Constraints(max_price=-5)
    with pytest.raises(ValidationError):
        Constraints(brands=["Nike"], colour="red")  # type: ignore[call-arg]


def test_valid_grounded_lm_answer_is_used_with_store_spelling() -> None:
    text = "cheap NIKE running shoes under $80 for trail"
    reply = (
        "Sure!\n```json\n"
        + lm(
            category="running shoes",
            brands=["nike"],
            max_price=80,
            price_level="budget",
            keywords=["Trail"],
        )
        + "\n```"
    )
    gen = FakeGenerator([reply])
    found, source = parse_request(text, gen, **KNOWN)
    assert source == "lm"
    assert found == Constraints(
        category="Running Shoes",
        brands=["Nike"],
        max_price=80,
        price_level="budget",
        keywords=["trail"],
    )
    prompt, system = gen.calls[0]
    assert prompt.endswith(f"Request: {text}\nJSON:") and "Known brands: Nike, Samsung" in prompt
    assert system is not None and "JSON" in system


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("Running shoes, under 80 dollars.", "invalid JSON"),
        ('{"category": "Running Shoes", "max_price": 80', "truncated JSON"),
        (lm(category="Running Shoes", max_price=-80), "negative price"),
        (lm(category="Running Shoes", max_price=800), "price not in the text"),
        (lm(category="Running Shoes", min_price=80, max_price=20), "min above max"),
        (lm(category="Running Shoes", brands=["Adidas"], max_price=80), "unknown brand"),
        (lm(category="Sneakers", max_price=80), "unknown category"),
        (lm(category="Running Shoes", colour="red"), "extra key"),
        (lm(category="Running Shoes", compatible_with="iPhone 15"), "device not in the text"),
    ],
)
def test_bad_lm_output_falls_back_to_rules(reply: str, why: str) -> None:
    found, source = parse_request(
        "cheap nike running shoes under $80", FakeGenerator([reply]), **KNOWN
    )
    assert source == "rules", why
    assert found == Constraints(
        category="Running Shoes", brands=["Nike"], max_price=80, price_level="budget"
    )


def test_generator_failure_falls_back_to_rules() -> None:
    def boom(prompt: str, system: str | None) -> str:
        raise ModelError("server down")

    found, source = parse_request("Sony headphones over 100 euros", FakeGenerator(boom), **KNOWN)
    assert source == "rules"
    assert found == Constraints(category="Headphones", brands=["Sony"], min_price=100)


def test_no_generator_uses_rules() -> None:
    assert parse_request("headphones", **KNOWN) == (Constraints(category="Headphones"), "rules")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "between 20 and 40 euros samsng phone case for my galaxy s23",
            Constraints(
                category="Phone Cases",
                brands=["Samsung"],
                min_price=20,
                max_price=40,
                compatible_with="galaxy s23",
            ),
        ),
        (
            "USB-C 65W charger for iPhone 15 Pro, at most 30 dollars",
            Constraints(
                category="Chargers",
                max_price=30,
                keywords=["usb-c", "65w"],
                compatible_with="iPhone 15 Pro",
            ),
        ),
        (
            "premium wireless headphones $100-$250",
            Constraints(
                category="Headphones",
                min_price=100,
                max_price=250,
                price_level="premium",
                keywords=["wireless"],
            ),
        ),
        ("shoes 20-40 bucks", Constraints(category="Shoes", min_price=20, max_price=40)),
        ("headphones over 2k", Constraints(category="Headphones", min_price=2000)),
        (
            "case for iPhone 15 Pro Max under $1,299.99",
            Constraints(max_price=1299.99, keywords=["case"], compatible_with="iPhone 15 Pro Max"),
        ),
        (
            "On running shoes from 120 to 90",
            Constraints(category="Running Shoes", brands=["On"], min_price=90, max_price=120),
        ),
        ("phone cases on sale", Constraints(category="Phone Cases", keywords=["sale"])),
        ("Anker or Apple charger", Constraints(category="Chargers", brands=["Anker", "Apple"])),
        ("red dress", Constraints(keywords=["red", "dress"])),
    ],
)
def test_rules_read_prices_names_and_devices(text: str, expected: Constraints) -> None:
    assert parse_rules(text, **KNOWN) == expected


def test_prompt_lists_known_names_and_examples() -> None:
    prompt = build_prompt("x", ["A", "B"], ["N"])
    assert prompt.startswith("Known categories: A, B\nKnown brands: N\n")
    assert prompt.count("Request:") == 3 and prompt.endswith("Request: x\nJSON:")
