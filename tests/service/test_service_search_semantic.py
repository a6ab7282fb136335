"""Semantic search is on by default (hybrid BM25 + sentence encoder), with a keyword-only mode,
a fallback when the encoder fails, and item vectors encoded once and cached in the store."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from cartwise.config import Settings
from cartwise.data import vectors as cache
from cartwise.data.schema import Item
from cartwise.data.store import Store
from cartwise.errors import ConfigError
from cartwise.search import KeywordMatcher, item_texts
from cartwise.search.semantic import null_queries
from cartwise.service.app import _warm_up
from cartwise.serving.engine import Engine
from conftest import make_client

#: word → concept axis; a word outside every concept adds nothing
CONCEPTS = {
    "shoe": 0, "shoes": 0, "sneaker": 0, "sneakers": 0, "trainer": 0, "trainers": 0,
    "phone": 1, "phones": 1, "smartphone": 1, "handset": 1,
    "sock": 2, "socks": 2,
    "yoga": 3, "mat": 3,
}  # fmt: skip
SHOES = {"a1", "p1", "p2"}  # the items whose text is about shoes


class ConceptEncoder:
    """A fake sentence encoder that knows synonyms: a text's vector counts its concept words."""

    name = "concepts"
    dim = 4

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        self.seen += texts
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().replace(".", " ").replace(">", " ").split():
                if word in CONCEPTS:
                    out[row, CONCEPTS[word]] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)


class BrokenEncoder(ConceptEncoder):
    """Stands for a model whose weights cannot be loaded."""

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        raise ConfigError("cannot load sentence encoder from '/nowhere': no such folder")


def _engine(store: Store, tmp_path: Path, encoder: object = None, **settings: object) -> Engine:
    config = Settings(model_dir=tmp_path / "models", **settings)  # type: ignore[arg-type]
    return Engine.from_settings(config, store=store, encoder=encoder)  # type: ignore[arg-type]


def _ids(answer: dict[str, object]) -> list[str]:
    return [i["item_id"] for i in answer["items"]]  # type: ignore[attr-defined, index]


def test_defaults_are_semantic_search() -> None:
    settings = Settings()
    assert settings.search_mode == "auto"
    assert "rerank" not in Settings.model_fields  # the LM reranker was measured and removed


def test_post_search_finds_an_item_by_meaning_and_keyword_mode_does_not(
    store: Store, tmp_path: Path
) -> None:
    query = "sneakers"
    keyword_index = KeywordMatcher(_engine(store, tmp_path, search_mode="keyword").catalog())
    assert not keyword_index.relevance(query).any()  # no catalog text shares a word with it
    with make_client(_engine(store, tmp_path, ConceptEncoder())) as client:
        found = client.post("/search", json={"query": query}).json()
    assert found["items"] and set(_ids(found)) == SHOES
    assert "close in meaning" in found["items"][0]["reason"]
    with make_client(_engine(store, tmp_path, ConceptEncoder(), search_mode="keyword")) as client:
        keyword = client.post("/search", json={"query": query})
    assert keyword.status_code == 200 and keyword.json()["items"] == []


def test_ready_says_when_the_search_index_is_built(store: Store, tmp_path: Path) -> None:
    engine = _engine(store, tmp_path, ConceptEncoder())
    with make_client(engine) as client:
        assert client.get("/ready").json()["search_index"] is False
        assert client.post("/search", json={"query": "sneakers"}).json()["items"]
        assert client.get("/ready").json()["search_index"] is True


class SlowEncoder(ConceptEncoder):
    """Stands for a large catalog's first encoding: blocks until released."""

    def __init__(self) -> None:
        super().__init__()
        self.started, self.release = threading.Event(), threading.Event()

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        self.started.set()
        assert self.release.wait(timeout=30)
        return super().encode(texts, batch_size=batch_size, progress=progress)


def test_recommendations_are_served_while_the_search_index_builds_in_the_background(
    store: Store, tmp_path: Path
) -> None:
    encoder = SlowEncoder()
    engine = _engine(store, tmp_path, encoder)
    engine.train("itemknn", {"k": 100, "shrink": 0.0}, rng=0)
    warming = threading.Thread(target=_warm_up, args=(engine,), daemon=True)
    with make_client(engine) as client:
        warming.start()  # what the service starts with (app_from_env)
        assert encoder.started.wait(timeout=30)
        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.json()["search_index"] is False
        answer = client.get("/users/u2/recommendations", params={"k": 3})
        assert answer.status_code == 200 and answer.json()["items"]
        assert not encoder.seen  # nothing encoded yet: the encoding is still blocked
        encoder.release.set()
        warming.join(timeout=30)
        assert not warming.is_alive() and client.get("/ready").json()["search_index"] is True
        assert set(_ids(client.post("/search", json={"query": "sneakers"}).json())) == SHOES


def test_item_vectors_are_encoded_once_cached_in_the_store_and_refreshed(
    store: Store, tmp_path: Path
) -> None:
    encoder = ConceptEncoder()
    engine = _engine(store, tmp_path, encoder)
    texts = set(item_texts(engine.catalog()))
    with make_client(engine) as client:
        for query in ("sneakers", "handset", "sneakers"):
            assert client.post("/search", json={"query": query}).json()["items"]
        assert sorted(t for t in encoder.seen if t in texts) == sorted(texts)  # once each
        assert cache.count_vectors(store, "concepts") == len(texts)
        # a new item: only its text is encoded, and the next search finds it
        encoder.seen.clear()
        new = Item(id="p9", title="Court Trainer", category=["Sports", "Footwear"], price=60)
        put = client.put("/items", json={"items": [new.model_dump(mode="json")]})
        assert put.status_code == 200
        found = client.post("/search", json={"query": "sneakers"}).json()
    assert "p9" in _ids(found)
    added = set(item_texts(engine.catalog())) - texts
    assert len(added) == 1 and next(iter(added)).startswith("Court Trainer")
    probes = set(null_queries())  # the null-floor probes, encoded once per process
    assert [t for t in encoder.seen if t != "sneakers" and t not in probes] == list(added)
    # another process over the same store reads every item vector from the store
    fresh = ConceptEncoder()
    served = _engine(store, tmp_path, fresh).search("sneakers", 10)
    assert {r.item.id for r in served.items} == SHOES | {"p9"}
    assert not set(fresh.seen) & (texts | added)


def test_an_encoder_that_fails_falls_back_to_keywords_with_a_warning(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _engine(store, tmp_path, BrokenEncoder())
    with caplog.at_level(logging.WARNING, logger="cartwise.search.factory"):
        served = engine.search("running shoes", 3)
    assert {r.item.id for r in served.items} <= SHOES | {"p3"} and served.items
    assert all("cosine" not in r.reason for r in served.items)
    assert "searching by keywords only" in caplog.text and "/nowhere" in caplog.text
    strict = _engine(store, tmp_path, BrokenEncoder(), search_mode="hybrid")
    with pytest.raises(ConfigError, match="/nowhere"):
        strict.search("running shoes", 3)


def test_without_the_lm_extra_auto_mode_is_keyword_only(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("cartwise.search.factory.lm_available", lambda model: False)
    with caplog.at_level(logging.WARNING, logger="cartwise.search.factory"):
        engine = _engine(store, tmp_path)
    assert engine.ctx.matchers.build is KeywordMatcher
    assert "cartwise[lm]" in caplog.text
    with pytest.raises(ConfigError, match="CARTWISE_SEARCH_MODE=keyword"):
        _engine(store, tmp_path, search_mode="hybrid")


@pytest.mark.slow
def test_the_default_engine_searches_with_minilm(store: Store, tmp_path: Path) -> None:
    engine = _engine(store, tmp_path)  # the real all-MiniLM-L6-v2 from the lm extra
    served = engine.search("sneakers", 3)
    assert served.items[0].item.id in SHOES
    assert cache.count_vectors(store, "all-MiniLM-L6-v2") == len(engine.catalog().ids)
