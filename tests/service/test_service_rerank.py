"""The optional LM reranking stage in the engine: off by default, on by a setting, and then the
answer follows the generator's order (within the candidates the model retrieved)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cartwise.config import Settings
from cartwise.data.store import Store
from cartwise.errors import ConfigError
from cartwise.ranking.rerank import LMReranker, RerankConfig
from cartwise.serving.engine import Engine
from cartwise.text.generator import FakeGenerator
from conftest import make_client

USER = "u5"  # viewed p2 and p3: ItemKNN ranks several items for them


def reverse(prompt: str, system: str | None) -> str:
    """Names every candidate of the prompt, last first."""
    n = len(re.findall(r"^\d+\. ", prompt, flags=re.MULTILINE))
    return ", ".join(str(i) for i in range(n, 0, -1))


def test_reranking_is_off_by_default(engine: Engine, tmp_path: Path, store: Store) -> None:
    assert engine.reranker is None
    default = Engine.from_settings(Settings(model_dir=tmp_path / "m"), store=store)
    assert default.reranker is None


def test_the_setting_needs_a_generator(store: Store, tmp_path: Path) -> None:
    on = Settings(model_dir=tmp_path / "m", rerank=True, rerank_top_n=5, search_mode="keyword")
    with pytest.raises(ConfigError, match="CARTWISE_GENERATOR"):
        Engine.from_settings(on, store=store)
    engine = Engine.from_settings(on, store=store, generator=FakeGenerator(reverse))
    assert engine.reranker is not None and engine.reranker.config.max_candidates == 5


def test_the_engine_answer_follows_the_generator_order(engine: Engine) -> None:
    plain = [r.item.id for r in engine.recommend_user(USER, 5).items]
    assert len(plain) == 5
    generator = FakeGenerator(reverse)
    engine.reranker = LMReranker(generator, RerankConfig(enabled=True, max_candidates=5))
    try:
        served = engine.recommend_user(USER, 3)
        with make_client(engine) as client:
            answer = client.get(f"/users/{USER}/recommendations", params={"k": 3}).json()
    finally:
        engine.reranker = None
    # the five retrieved candidates, reversed by the generator, cut to three
    assert [r.item.id for r in served.items] == plain[::-1][:3]
    assert [i["item_id"] for i in answer["items"]] == plain[::-1][:3]
    assert [r.details["model_rank"] for r in served.items] == [5.0, 4.0, 3.0]
    prompt, _ = generator.calls[0]
    assert "- Road Running Shoe\n- Running Socks" in prompt  # the shopper's history
    assert [r.item.id for r in engine.recommend_user(USER, 3).items] == plain[:3]  # off again
