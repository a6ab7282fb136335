"""Explanations on the live path: phrased off the request thread, within a budget, cached."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartwise.ranking.explain import Evidence, Explainer
from cartwise.serving.engine import Engine
from cartwise.serving.phrasing import Phraser
from cartwise.text.generator import FakeGenerator
from conftest import make_client

FACT = Evidence("history", "you viewed 'Phone X'", "Phone X")


def _grounded(prompt: str, system: str | None) -> str:
    fact = next(line for line in prompt.splitlines() if line.startswith("Fact: "))
    return "Picked because " + fact.removeprefix("Fact: ") + "."


class Gated(FakeGenerator):
    """Replies only once `release` is set: a generator slower than any budget."""

    def __init__(self) -> None:
        super().__init__(_grounded)
        self.release = threading.Event()

    def _complete(self, prompt: str, system: str | None, *args: Any) -> str:
        self.release.wait(10)
        return super()._complete(prompt, system, *args)


def test_a_request_never_waits_past_its_budget_and_the_next_gets_the_phrased_sentence() -> None:
    generator = Gated()
    phraser = Phraser(Explainer(generator))
    items = [("Phone X Case", None, [FACT]), ("Charger", None, [FACT])]
    began = time.monotonic()
    first = phraser.explain_many(["a", "b"], items, budget=0.05)
    assert time.monotonic() - began < 1.0  # the generator is still blocked
    assert [e.source for e in first] == ["template", "template"]
    assert first[0].reason == "Because you viewed 'Phone X'."
    assert phraser.stats.late == 2
    generator.release.set()
    deadline = time.monotonic() + 10
    while phraser.stats.phrased < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    second = phraser.explain_many(["a", "b"], items, budget=0.0)
    assert [e.source for e in second] == ["generator", "generator"]
    assert second[0].reason == "Picked because you viewed 'Phone X'."
    assert phraser.stats.cached == 2 and len(generator.calls) == 2  # phrased once each


def test_a_hallucinated_sentence_is_blocked_and_counted() -> None:
    phraser = Phraser(Explainer(FakeGenerator(default="Also try the Galaxy S24 Ultra.")))
    done = phraser.explain_many(["k"], [("Case", None, [FACT])], budget=5.0,
                                known_names=["Galaxy S24 Ultra", "Phone X"])  # fmt: skip
    assert done[0].source == "template" and done[0].reason == "Because you viewed 'Phone X'."
    assert phraser.stats.blocked == 1 and "Galaxy S24 Ultra" in phraser.stats.problems[0]


def test_explanations_over_http_carry_evidence_and_sentence(engine: Engine) -> None:
    engine.explainer = Explainer(FakeGenerator(_grounded))
    engine.ctx.explain_budget = 5.0
    with make_client(engine) as client:
        body = client.get("/users/u3/recommendations", params={"k": 3, "explain": "true"}).json()
        plain = client.get("/users/u3/recommendations", params={"k": 3}).json()
        search = client.post("/search", json={"query": "phone", "explain": True}).json()
    for item in body["items"]:
        explanation = item["explanation"]
        assert explanation["source"] == "generator"
        assert explanation["sentence"] == item["reason"]
        assert explanation["sentence"].startswith("Picked because ")
    # p6 is there because of u3's phone and case (ItemKNN lifts); the rest are popular
    first = body["items"][0]
    assert first["item_id"] == "p6" and first["explanation"]["evidence"][0]["kind"] == "history"
    assert first["explanation"]["sentence"].startswith("Picked because you bought 'Phone X")
    assert {e["kind"] for i in body["items"][1:] for e in i["explanation"]["evidence"]} == {
        "popular"
    }
    assert all(i["explanation"] is None for i in plain["items"])
    assert search["items"][0]["explanation"]["evidence"][0]["kind"] == "text_match"


@pytest.mark.parametrize("generator", [None, "budget"])
def test_without_a_generator_or_in_time_explanations_are_templates(
    engine: Engine, generator: str | None
) -> None:
    if generator:
        slow = Gated()
        engine.explainer = Explainer(slow)
        engine.ctx.explain_budget = 0.0
    served = engine.recommend_user("u3", 3, explain=True)
    assert served.items and all(
        r.explanation is not None and r.explanation.source == "template" for r in served.items
    )
    if generator:
        slow.release.set()


def test_explain_param_must_be_a_flag(client: TestClient) -> None:
    r = client.post("/search", json={"query": "phone", "explain": "yes"})
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "explain"
