"""The Recommender base class every model implements.

A model is fit on a :class:`~cartwise.data.dataset.Dataset` and then scores *histories*: the
chronological item indices a shopper interacted with. Scoring from the history rather than from a
stored user row is what lets a new click change the next recommendation without retraining.

Subclasses implement ``_fit``, ``_score_histories`` and ``_state`` / ``_load_state``; the base
class owns validation, top-k, exclusion and the on-disk format::

    model_dir/
      config.json    {"model": name, "config": {...}, "n_items": n, "format": 1}
      vocab.json     item external ids in index order
      weights.npz | weights.safetensors   arrays only, never pickle
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from pydantic import BaseModel, ValidationError

from cartwise.data.dataset import Dataset, KindSelection, Vocabulary
from cartwise.errors import ConfigError, DataError, ModelError, NotFittedError

FORMAT_VERSION = 1
Rng = int | np.random.Generator | None


def as_generator(rng: Rng) -> np.random.Generator:
    """A numpy Generator from a seed, a Generator or None (fresh entropy)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def as_seed(rng: Rng) -> int:
    """An int seed (for torch) drawn reproducibly from `rng`."""
    return int(as_generator(rng).integers(0, 2**31 - 1))


@dataclass(frozen=True)
class Query:
    """Who to score for.

    Attributes:
        history: item indices the shopper interacted with, oldest first.
        user: the user's index in the training dataset, when known (some models use it).
        kinds: per history position, the event kind's code in the model's kind vocabulary
            (``model.kinds_``; 0 = unknown), or None. Read by event-aware models only.
        times: per history position, epoch seconds, or None. Read by event-aware models only.
    """

    history: np.ndarray
    user: int | None = None
    kinds: np.ndarray | None = None
    times: np.ndarray | None = None

    @classmethod
    def of(
        cls,
        history: Iterable[int],
        user: int | None = None,
        *,
        kinds: Iterable[int] | None = None,
        times: Iterable[float] | None = None,
    ) -> Query:
        """Build from any iterables of item indices (and kind codes and times)."""
        return cls(
            np.asarray(list(history), dtype=np.int64),
            user,
            None if kinds is None else np.asarray(list(kinds), dtype=np.int64),
            None if times is None else np.asarray(list(times), dtype=np.float64),
        )


@dataclass(frozen=True)
class Scored:
    """One recommended item index with its score."""

    item: int
    score: float


class Recommender(ABC):
    """Base of all models: fit / score / recommend / similar_items / save / load."""

    name: ClassVar[str]
    config_class: ClassVar[type[BaseModel]]

    def __init__(self, config: BaseModel | dict[str, Any] | None = None) -> None:
        if config is None or isinstance(config, dict):
            config = self._validate_config(config or {})
        if not isinstance(config, self.config_class):
            raise ConfigError(f"{self.name} expects a {self.config_class.__name__}")
        self.config: Any = config
        self.items_: Vocabulary | None = None

    @classmethod
    def _validate_config(cls, settings: dict[str, Any]) -> BaseModel:
        """`settings` as the model's config class; a ConfigError naming the first bad field."""
        try:
            return cls.config_class.model_validate(settings)
        except ValidationError as exc:
            raise ConfigError(f"invalid {cls.name} config: {_first_error(exc)}") from exc

    # -- public API ----------------------------------------------------------------------
    def fit(self, data: Dataset, *, rng: Rng = None, valid: Any = None) -> Self:
        """Learn from `data`. `valid` (an EvalSet) is used by models that early-stop."""
        if data.n_items == 0 or (data.n_interactions == 0 and self.needs_events):
            raise DataError(
                f"cannot fit {self.name} on '{data.name}': it has no interactions; "
                "ingest events first"
            )
        self.items_ = data.items
        self._fit(data, as_generator(rng), valid)
        return self

    @property
    def needs_events(self) -> bool:
        """Whether fitting needs interactions (False: a model that can answer from the catalog
        alone, as the pretrained transfer model does zero-shot)."""
        return True

    @property
    def input_kinds(self) -> KindSelection:
        """Which of a store's events the model trains on: ``"positive"`` (views, carts,
        purchases, ratings and declared positive kinds; every id-only model) or
        ``"behaviour"`` (every kind a shopper does with an item; the event-aware model).
        Pass it on: ``Dataset.from_store(store, kinds=model.input_kinds)``."""
        return "positive"

    @property
    def n_items(self) -> int:
        """Catalog size the model scores (excluding padding)."""
        return self._vocab.size

    def score(self, query: Query) -> np.ndarray:
        """One score per item index (length n_items + 1; index 0 is -inf)."""
        row: np.ndarray = self.score_many([query])[0]
        return row

    def score_many(self, queries: Sequence[Query]) -> np.ndarray:
        """Scores for many queries at once: float32 array (len(queries), n_items + 1)."""
        self.check_queries(queries)
        scores: np.ndarray = np.asarray(self._score_histories(queries), dtype=np.float32)
        scores[:, 0] = -np.inf
        return scores

    def check_queries(self, queries: Sequence[Query]) -> None:
        """ModelError naming the problem when a query holds an item index outside the model's
        vocabulary or kinds/times not aligned with its history (NotFittedError unfitted)."""
        vocab = self._vocab
        for q in queries:
            if q.history.size and (q.history.min() < 1 or q.history.max() >= len(vocab)):
                raise ModelError(
                    f"history holds item index {int(q.history.max())} outside 1..{vocab.size}; "
                    "encode external ids with the model's vocabulary (model.items_)"
                )
            for label, aligned in (("kinds", q.kinds), ("times", q.times)):
                if aligned is not None and len(aligned) != len(q.history):
                    raise ModelError(
                        f"query {label} has {len(aligned)} values for a history of "
                        f"{len(q.history)} items; give one per history position (or None)"
                    )

    def recommend(
        self, query: Query, k: int = 10, *, exclude: Iterable[int] | np.ndarray | None = None
    ) -> list[Scored]:
        """Top-k items for `query`, best first, never an item in `exclude`."""
        return top_k(self.score(query), k, exclude)

    def similar_items(self, item: int, k: int = 10) -> list[Scored]:
        """Items most like `item` (excluding itself). Models without a notion raise ModelError."""
        raise ModelError(f"{self.name} has no item-to-item similarity; use itemknn, ease or sasrec")

    # -- persistence ---------------------------------------------------------------------
    def save(self, path: Path | str) -> None:
        """Write the model as a directory (config.json, vocab.json, weights)."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "model": self.name,
            "format": FORMAT_VERSION,
            "config": self.config.model_dump(mode="json"),
            "n_items": self.n_items,
            "extra": self._extra(),
        }
        self._vocab.save(out / "vocab.json")
        self._save_state(out)
        (out / "config.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: Path | str) -> Self:
        """Read a directory written by :meth:`save`."""
        src = Path(path)
        meta = read_meta(src)
        if meta["model"] != cls.name:
            raise ModelError(f"{src} holds a '{meta['model']}' model, not '{cls.name}'")
        model = cls(meta["config"])
        model.items_ = Vocabulary.load(src / "vocab.json")
        model._load_state(src, meta.get("extra") or {})
        return model

    # -- for subclasses ------------------------------------------------------------------
    @property
    def _vocab(self) -> Vocabulary:
        if self.items_ is None:
            raise NotFittedError(f"{self.name} is not fitted; call fit() or load() first")
        return self.items_

    @abstractmethod
    def _fit(self, data: Dataset, rng: np.random.Generator, valid: Any) -> None: ...

    @abstractmethod
    def _score_histories(self, queries: Sequence[Query]) -> np.ndarray: ...

    def _extra(self) -> dict[str, Any]:
        """Small JSON-able state saved in config.json (override when needed)."""
        return {}

    def _save_state(self, path: Path) -> None:
        np.savez(path / "weights.npz", **self._arrays())  # type: ignore[arg-type]

    def _load_state(self, path: Path, extra: dict[str, Any]) -> None:
        with np.load(path / "weights.npz", allow_pickle=False) as data:
            self._set_arrays({k: data[k] for k in data.files}, extra)

    def _arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _set_arrays(self, arrays: dict[str, np.ndarray], extra: dict[str, Any]) -> None:
        raise NotImplementedError


def read_meta(path: Path) -> dict[str, Any]:
    """config.json of a saved model, with a clear error when the folder is not one."""
    meta_path = path / "config.json"
    if not meta_path.is_file():
        raise ModelError(f"{path} is not a saved model: config.json is missing")
    meta: dict[str, Any] = json.loads(meta_path.read_text())
    if meta.get("format") != FORMAT_VERSION:
        raise ModelError(f"{meta_path}: unsupported format {meta.get('format')!r}")
    return meta


def top_k(
    scores: np.ndarray, k: int, exclude: Iterable[int] | np.ndarray | None = None
) -> list[Scored]:
    """Best `k` indices of `scores` (ties broken by lower index), skipping `exclude` and -inf."""
    if k <= 0:
        raise ModelError(f"k must be a positive number of items, got {k}")
    s = np.array(scores, dtype=np.float32, copy=True)
    if exclude is not None:
        ex = (
            np.fromiter(exclude, dtype=np.int64) if not isinstance(exclude, np.ndarray) else exclude
        )
        s[ex[(ex >= 0) & (ex < len(s))]] = -np.inf
    finite = int(np.isfinite(s).sum())
    k = min(k, finite)
    if k == 0:
        return []
    part = np.argpartition(-s, k - 1)[:k]
    order = part[np.lexsort((part, -s[part]))]
    return [Scored(int(i), float(s[i])) for i in order]


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    return f"{loc}: {err['msg']}"
