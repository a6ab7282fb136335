"""Explanations: evidence computed by the system, sentences that name nothing else."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cartwise.errors import ModelError
from cartwise.ranking.explain import (
    Evidence,
    Explainer,
    Explanation,
    grounding_problem,
    history_evidence,
    new_arrival_evidence,
    template,
    text_match_evidence,
)
from cartwise.ranking.reasons import Touch
from cartwise.text.generator import FakeGenerator

PHONE = Touch(1, "purchase", "Fonix X Smartphone")
MAT = Touch(2, "view", "Zen Yoga Mat")
CATALOG_NAMES = [
    "Fonix X Smartphone",
    "Zen Yoga Mat",
    "Shell Slim Case for Fonix X",
    "Trail Running Shoe",
    "Fonix",
    "Shell",
    "Acme",
    "Zen",
]


def _rows() -> np.ndarray:
    # columns: items 0..4; rows: PHONE alone, MAT alone, empty history
    return np.array(
        [
            [-np.inf, 0.0, 0.0, 5.0, 2.0],
            [-np.inf, 0.0, 0.0, 1.0, 2.0],
            [-np.inf, 0.0, 0.0, 0.0, 2.0],
        ]
    )


def test_history_evidence_credits_the_events_that_lift_the_score() -> None:
    case, popular = history_evidence(_rows(), [PHONE, MAT], [3, 4], ["Fonix", "Zen"])
    # item 3: PHONE lifts it by 5, MAT by 1 (floors 0) → both, strongest first, share of the top
    assert [(e.kind, e.title, e.brand, e.weight) for e in case] == [
        ("history", "Fonix X Smartphone", "Fonix", 1.0),
        ("history", "Zen Yoga Mat", "Zen", 0.2),
    ]
    assert case[0].text == "you bought 'Fonix X Smartphone'"
    # item 4 scores 2 with either history item and with none: history plays no part
    assert [e.kind for e in popular] == ["popular"]


def test_template_uses_the_evidence_words_only() -> None:
    case = history_evidence(_rows(), [PHONE, MAT], [3])[0]
    assert template(case) == (
        "Because you bought 'Fonix X Smartphone' and you viewed 'Zen Yoga Mat'."
    )
    match = text_match_evidence("matches 'case' in title", 3.2, "slim case")
    assert template([match]) == "Your search 'slim case' matches 'case' in title."


def test_new_arrival_is_tied_to_the_closest_history_item() -> None:
    history = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    found = new_arrival_evidence(np.array([0.6, 0.8]), history, [PHONE, MAT])
    assert found is not None
    assert (found.kind, found.title, found.weight) == ("new_arrival", "Zen Yoga Mat", 0.8)
    assert found.text == "new arrival similar to 'Zen Yoga Mat', which you viewed"
    assert new_arrival_evidence(np.array([-1.0, 0.0]), history, [PHONE, MAT]) is None


def _explain(reply: str | list[str]) -> tuple[Explanation, FakeGenerator]:
    replies = [reply] if isinstance(reply, str) else reply
    generator = FakeGenerator(replies)
    evidence = history_evidence(_rows()[[0, 2]], [PHONE], [3], ["Fonix"])[0]
    explainer = Explainer(generator, CATALOG_NAMES)
    return explainer.explain("Shell Slim Case for Fonix X", "Shell", evidence), generator


def test_a_grounded_generated_sentence_is_kept() -> None:
    out, generator = _explain("It fits the Fonix X Smartphone you bought.")
    assert (out.source, out.reason) == ("generator", "It fits the Fonix X Smartphone you bought.")
    prompt, system = generator.calls[0]
    assert prompt.splitlines() == [
        "Recommended item: 'Shell Slim Case for Fonix X' by Shell",
        "Fact: you bought 'Fonix X Smartphone'",
        "One sentence:",
    ]
    assert system is not None and "only the facts" in system


@pytest.mark.parametrize(
    "reply",
    [
        "Nike fans love this case for the Fonix X Smartphone.",  # brand outside the catalog
        "Goes well with your Trail Running Shoe.",  # catalog item outside the evidence
        "Acme makes it for your Fonix X Smartphone.",  # catalog brand outside the evidence
        "Only 5 dollars for your Fonix X Smartphone.",  # a number nobody computed
        "Because you liked 'Ultra Armor Pro'.",  # a quote that is not in the evidence
        "",  # nothing
        "Line one.\nLine two about the Fonix X Smartphone.",  # not one sentence
    ],
)
def test_a_sentence_naming_anything_outside_the_evidence_falls_back(reply: str) -> None:
    out, _ = _explain(reply)
    assert out.source == "template"
    assert out.reason == "Because you bought 'Fonix X Smartphone'."


def test_a_rejected_sentence_is_asked_for_again_with_the_reason() -> None:
    out, generator = _explain(["Goes well with your Zen gear.", "It fits the Fonix X Smartphone."])
    assert (out.source, out.reason) == ("generator", "It fits the Fonix X Smartphone.")
    retry = generator.calls[1][0].splitlines()
    assert retry[:2] == generator.calls[0][0].splitlines()[:2]  # the same facts
    assert retry[-2:] == [
        "Rejected: names 'Zen', which is not in the evidence.",
        "One sentence using only these facts:",
    ]


def test_a_retry_is_checked_against_the_original_evidence_only() -> None:
    # the retry prompt repeats 'Zen' in its reason: that does not make 'Zen' evidence
    out, generator = _explain(["Goes well with your Zen gear.", "Zen fans love it."])
    assert out.source == "template" and len(generator.calls) == 2
    assert out.blocked == "names 'Zen', which is not in the evidence"


def test_no_retry_when_retries_is_zero() -> None:
    generator = FakeGenerator(["Goes well with your Zen gear.", "It fits the Fonix X Smartphone."])
    evidence = history_evidence(_rows()[[0, 2]], [PHONE], [3], ["Fonix"])[0]
    out = Explainer(generator, CATALOG_NAMES, retries=0).explain(
        "Shell Slim Case", "Shell", evidence
    )
    assert out.source == "template" and len(generator.calls) == 1


def test_generator_failure_falls_back_to_the_template() -> None:
    out, _ = _explain([])  # FakeGenerator without replies raises ModelError
    assert out.source == "template"
    with pytest.raises(ModelError):
        FakeGenerator([]).generate("x")


def test_personal_data_never_reaches_the_generator() -> None:
    generator = FakeGenerator(default="Matches your search.")
    evidence = [text_match_evidence("matches 'case' in title", 1.0, "case mail jo@x.org u00042")]
    out = Explainer(generator, CATALOG_NAMES).explain(
        "Shell Slim Case for Fonix X", "Shell", evidence, user_ids=["u00042"]
    )
    prompt = generator.calls[0][0]
    assert "jo@x.org" not in prompt and "u00042" not in prompt
    assert "[EMAIL]" in prompt and "[USER]" in prompt
    assert out.source == "generator"


def _named(sentence: str, names: list[str]) -> set[str]:
    return {
        n for n in names if re.search(rf"(?<!\w){re.escape(n.lower())}(?!\w)", sentence.lower())
    }


def test_every_name_in_any_explanation_is_in_its_evidence() -> None:
    # a generator that tries every catalog name and an invented brand, one per call
    attempts = [f"You will love {name} with this." for name in CATALOG_NAMES + ["Nike"]]
    attempts += ["A match for the Fonix X Smartphone you bought."]
    generator = FakeGenerator(attempts)
    explainer = Explainer(generator, CATALOG_NAMES)
    evidence = history_evidence(_rows(), [PHONE, MAT], [3], ["Fonix", "Zen"])[0]
    kept = 0
    for _ in attempts:
        out = explainer.explain("Shell Slim Case for Fonix X", "Shell", evidence)
        assert _named(out.reason, CATALOG_NAMES) <= out.names()
        assert "Nike" not in out.reason
        kept += out.source == "generator"
    # names in the evidence (the item, its brand, the two history items and their brands) pass
    assert kept == 7


def test_grounding_problem_messages_name_the_offender() -> None:
    prompt = "Fact: you bought 'Fonix X Smartphone'"
    names = {"Fonix X Smartphone"}
    assert grounding_problem("Pairs with Zen gear.", prompt, names, CATALOG_NAMES) == (
        "names 'Zen', which is not in the evidence"
    )
    assert grounding_problem("Fits your Fonix X Smartphone.", prompt, names, CATALOG_NAMES) is None
    assert Evidence("popular", "popular with shoppers right now").weight == 0.0
