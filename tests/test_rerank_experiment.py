"""LM reranking (the experiment in benchmarks/rerank_lm.py): robust reading of the generator's
order, original order on anything unusable."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from cartwise.text.generator import FakeGenerator

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from rerank_lm import LMReranker, RerankConfig, build_prompt, parse_order  # noqa: E402

CANDIDATES = ["Toy Story (1995)", "Heat (1995)", "Casino (1995)", "Babe (1995)"]
HISTORY = ["GoldenEye (1995)", "Jumanji (1995)"]


@pytest.mark.parametrize(
    ("reply", "order"),
    [
        ("3, 1, 4, 2", [2, 0, 3, 1]),
        ("Here is the order: 2 > 4", [1, 3]),
        ("[3, 3, 9, 0, 1]", [2, 0]),  # duplicate and out-of-range numbers skipped
        ("1. Heat (1995)\n2. Babe (1995)", [1, 3]),  # titles win: "1." is a list marker
        ("1. 3\n2. 1\n3) 4", [2, 0, 3]),  # list markers are not answers
        ("I would pick Casino (1995) then Toy Story (1995).", [2, 0]),  # titles, by position
    ],
)
def test_parse_order(reply: str, order: list[int]) -> None:
    assert parse_order(reply, CANDIDATES) == order


@pytest.mark.parametrize(
    "reply", ["", "I cannot help with that.", "99, 42", "1.5 stars", "1. 1997\n2. 1997"]
)
def test_parse_order_gives_none_on_unusable_replies(reply: str) -> None:
    assert parse_order(reply, CANDIDATES) is None


def test_rerank_puts_named_candidates_first_and_keeps_the_rest_in_order() -> None:
    generator = FakeGenerator(["4, 2"])
    out = LMReranker(generator).rerank(HISTORY, CANDIDATES)
    assert (out.order, out.source, out.reply) == ([3, 1, 0, 2], "lm", "4, 2")
    prompt, system = generator.calls[0]
    assert prompt == build_prompt(HISTORY, CANDIDATES)
    assert "1. Toy Story (1995)" in prompt and "- Jumanji (1995)" in prompt
    assert system is not None and "numbers only" in system


def test_invalid_output_or_failure_keeps_the_original_order() -> None:
    for generator in (FakeGenerator(["no idea, sorry"]), FakeGenerator([])):  # [] raises
        out = LMReranker(generator).rerank(HISTORY, CANDIDATES)
        assert (out.order, out.source) == ([0, 1, 2, 3], "original")


def test_only_max_candidates_are_shown_and_the_tail_keeps_its_place() -> None:
    many = [f"Movie {chr(65 + i)}" for i in range(6)]
    generator = FakeGenerator(["3, 1"])
    out = LMReranker(generator, RerankConfig(max_candidates=3, max_history=1)).rerank(HISTORY, many)
    assert out.order == [2, 0, 1, 3, 4, 5]
    prompt = generator.calls[0][0]
    assert "Movie D" not in prompt and "GoldenEye" not in prompt and "Jumanji" in prompt


def test_redaction_and_config() -> None:
    generator = FakeGenerator(["1"])
    LMReranker(generator).rerank(["Sent to jo@x.org"], CANDIDATES, user_ids=["u7"])
    assert "jo@x.org" not in generator.calls[0][0]
    assert RerankConfig().enabled is False
    with pytest.raises(ValidationError):
        RerankConfig(max_candidates=1)
    single = LMReranker(FakeGenerator([])).rerank(HISTORY, CANDIDATES[:1])
    assert (single.order, single.source) == ([0], "original")
