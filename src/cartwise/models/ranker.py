"""Ranker: candidates from several base models, reordered by LightGBM's LambdaRank.

The two-stage design of industrial recommenders: SASRec, EASE (ItemKNN on catalogs EASE
refuses), the content model (when items have text) and popularity each propose their top
``candidates`` items outside the shopper's history; gradient-boosted trees with a ranking
objective order the union using the models' scores and ranks, text similarity to the history,
category/brand match, popularity and its trend, sequential transitions, recency of the last
related event, price relative to the history and the history's length
(:mod:`cartwise.models.ranker_features` lists them).

Training never sees an item it will be asked to predict. Inside ``fit(data)`` each training
sequence's last item is held out as the ranker's target; the base models are fitted on the rest,
the held-out shoppers' candidates and features are built from them, and LightGBM learns to put
the held-out item first (early-stopped on a random ``eval_share`` of those shoppers). The base
models are then refitted on all of `data` for serving (``refit``; off keeps the held-out fits
and saves their training time). Under the leave-one-out protocol `data` is the training part,
so the validation and test targets stay outside every stage.

Scores: a candidate's is the ranker's output (plus 1e-5 × the mean reciprocal rank over the
sources, which only breaks exact ties); every other item scores below all candidates of its
row, in popularity order. An empty history gets the training popularity.

On disk: ``config.json``, ``vocab.json``, ``ranker.txt`` (LightGBM's text model), ``stats.npz``
(item facts) and ``bases/<name>/`` (each base model in its own format).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import lightgbm as lgb
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cartwise.data.dataset import Dataset
from cartwise.errors import ModelError, NotFittedError
from cartwise.models.base import Query, Recommender, Rng, Scored, as_generator, as_seed
from cartwise.models.histories import popularity_prior
from cartwise.models.ranker_bases import (
    BASES,
    FALLBACK,
    TEXT,
    fit_bases,
    load_bases,
    save_bases,
)
from cartwise.models.ranker_features import Candidates, FeatureSpec, TextInputs, build
from cartwise.models.ranker_stats import ItemStats
from cartwise.models.ranker_train import BoostSettings, TrainingRows, hold_out_last, train_booster
from cartwise.models.text import ContentModel

_log = logging.getLogger(__name__)

_TIE_BREAK = 1e-5
_CHUNK_SCORES = 1 << 23  # base-model scores per chunk of queries (32 MiB float32 per model)


class RankerConfig(BaseModel):
    """Settings of :class:`Ranker`.

    Attributes:
        models: base models proposing candidates (names in ranker_bases.BASES).
        base: per base model, its settings (e.g. ``{"sasrec": {"epochs": 50}}``).
        candidates: top-N items each base model proposes.
        text_features: build text features when items have text (through the content model,
            fitted for them even when it proposes no candidates).
        window: latest history items the text, category and price features read.
        trend_days: the "recent" window of the popularity trend (data with timestamps).
        trend_positions: without timestamps, each shopper's last events count as recent.
        refit: refit the base models on all the data after the ranker is trained.
        rounds: most boosting rounds; early_stopping: rounds without a better NDCG@10 on
            the held-out shoppers before stopping.
        learning_rate, num_leaves, min_data_in_leaf, feature_fraction, reg: LightGBM's.
        eval_share: share of the training shoppers used for early stopping.
        max_train_users: train the ranker on at most this many shoppers (None: all).
        num_threads: LightGBM threads (default: the cores this process may use).
    """

    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(default_factory=lambda: ["sasrec", "ease", "content", "popularity"])
    base: dict[str, dict[str, Any]] = Field(default_factory=dict)
    candidates: int = Field(default=50, ge=1)
    text_features: bool = True
    window: int = Field(default=10, ge=1)
    trend_days: float = Field(default=14.0, gt=0)
    trend_positions: int = Field(default=3, ge=1)
    refit: bool = True
    rounds: int = Field(default=500, ge=1)
    early_stopping: int = Field(default=50, ge=1)
    learning_rate: float = Field(default=0.05, gt=0)
    num_leaves: int = Field(default=31, ge=2)
    min_data_in_leaf: int = Field(default=50, ge=1)
    feature_fraction: float = Field(default=0.9, gt=0, le=1)
    reg: float = Field(default=1.0, ge=0)
    eval_share: float = Field(default=0.2, gt=0, lt=1)
    max_train_users: int | None = Field(default=None, ge=2)
    num_threads: int | None = Field(default=None, ge=1)

    @field_validator("models")
    @classmethod
    def _known_models(cls, names: list[str]) -> list[str]:
        if not names:
            raise ValueError(f"name at least one base model, e.g. {', '.join(BASES)}")
        for name in names:
            if name not in BASES or name == "ranker":
                raise ValueError(f"unknown base model '{name}'; choose from {', '.join(BASES)}")
        if len(set(names)) != len(names):
            raise ValueError(f"base models are listed twice: {names}")
        return names

    @field_validator("base")
    @classmethod
    def _known_settings(cls, base: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, settings in base.items():
            if name not in BASES:
                raise ValueError(f"settings for unknown base model '{name}'")
            BASES[name]._validate_config(settings)  # ConfigError naming the bad field
        return base


class Ranker(Recommender):
    """Second-stage ranker: base models' candidates reordered by LambdaRank trees."""

    name: ClassVar[str] = "ranker"
    config_class: ClassVar[type[BaseModel]] = RankerConfig
    config: RankerConfig

    def __init__(self, config: RankerConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.bases_: dict[str, Recommender] = {}
        self.held_bases_: dict[str, Recommender] = {}  # the held-out fits (not saved)
        self.spec_: FeatureSpec | None = None
        self.stats_: ItemStats | None = None
        self.booster_: lgb.Booster | None = None
        self.prior_: np.ndarray | None = None
        self.timings_: dict[str, float] = {}
        self.importances_: dict[str, float] = {}
        self.training_: dict[str, Any] = {}

    # -- training ------------------------------------------------------------------------
    def _fit(self, data: Dataset, rng: np.random.Generator, valid: Any) -> None:
        cfg = self.config
        seed = as_seed(rng)
        names = list(cfg.models)
        if cfg.text_features and TEXT not in names:
            names.append(TEXT)  # feature source only
        held_data = hold_out_last(data).data
        began = time.perf_counter()
        held = fit_bases(names, cfg.base, held_data, seed=seed, valid=valid)
        self.timings_ = {"bases_held": time.perf_counter() - began}
        self.timings_ |= {f"fit_{n}_held": s for n, s in held.seconds.items()}
        final = held.models
        if cfg.refit:
            began = time.perf_counter()
            refit = fit_bases(names, cfg.base, data, seed=seed, valid=valid, reuse=held.models)
            final = refit.models
            self.timings_["bases_refit"] = time.perf_counter() - began
            self.timings_ |= {f"fit_{n}_refit": s for n, s in refit.seconds.items()}
        self._fit_ranker(data, held.models, final, seed)

    def fit_with_bases(
        self,
        data: Dataset,
        held: dict[str, Recommender],
        final: dict[str, Recommender],
        *,
        rng: Rng = None,
    ) -> Self:
        """Fit only the ranker over base models fitted already: `held` on `data` without each
        sequence's last item, `final` on `data` (ablations reuse one set of base models).

        Only the models named by the config (and the content model for text features) are used.
        """
        for model in (*held.values(), *final.values()):
            if model.items_ != data.items:
                raise ModelError(f"base model {model.name} was fitted on another catalog")
        self.items_ = data.items
        self.timings_ = {}
        self._fit_ranker(data, held, final, as_seed(as_generator(rng)))
        return self

    def _fit_ranker(
        self, data: Dataset, held: dict[str, Recommender], final: dict[str, Recommender], seed: int
    ) -> None:
        cfg = self.config
        split = hold_out_last(data)
        began = time.perf_counter()
        held_stats = self._stats(split.data)
        spec = self._spec(held, held_stats)
        self.spec_, self.stats_, self.bases_ = spec, held_stats, self._used(held, spec)
        users = split.users
        if cfg.max_train_users is not None and len(users) > cfg.max_train_users:
            pick = np.random.default_rng([seed, 1]).choice(len(users), cfg.max_train_users, False)
            users = users[np.sort(pick)]
        rows = self._training_rows(split.data, users, split.targets_of(users))
        self.timings_["features"] = time.perf_counter() - began
        began = time.perf_counter()
        booster, summary = train_booster(rows, spec.names(), self._boost_settings(seed))
        self.timings_["lightgbm"] = time.perf_counter() - began
        self.booster_ = booster
        gains = booster.feature_importance("gain")
        self.importances_ = {n: float(g) for n, g in zip(spec.names(), gains, strict=True)}
        self.training_ = {**summary, "shoppers": len(users)}
        self.held_bases_ = held
        began = time.perf_counter()
        self.stats_ = self._stats(data)
        self.bases_ = self._used(final, spec)
        self.prior_ = popularity_prior(data.item_counts)
        self.timings_["stats"] = time.perf_counter() - began

    def _boost_settings(self, seed: int) -> BoostSettings:
        cfg = self.config
        assert self.spec_ is not None
        return BoostSettings(
            rounds=cfg.rounds, early_stopping=cfg.early_stopping, eval_share=cfg.eval_share,
            learning_rate=cfg.learning_rate, num_leaves=cfg.num_leaves,
            min_data_in_leaf=cfg.min_data_in_leaf, feature_fraction=cfg.feature_fraction,
            reg=cfg.reg, threads=self._threads(), seed=seed,
            candidates=f"top {cfg.candidates} of {', '.join(self.spec_.sources)}",
        )  # fmt: skip

    def _stats(self, data: Dataset) -> ItemStats:
        cfg = self.config
        return ItemStats.of(data, trend_days=cfg.trend_days, trend_positions=cfg.trend_positions)

    def _spec(self, fitted: dict[str, Recommender], stats: ItemStats) -> FeatureSpec:
        """Which sources and features this ranker has, given the fitted base models."""
        cfg = self.config
        sources: list[str] = []
        for name in cfg.models:
            actual = name if name in fitted else FALLBACK.get(name)
            if actual in fitted and actual not in sources:
                sources.append(actual)
        if not sources:
            raise ModelError(
                f"ranker: none of the base models {cfg.models} could be fitted on this data "
                "(text models need item text); add popularity or sasrec to models"
            )
        text = cfg.text_features and TEXT in fitted
        groups, price = tuple(stats.groups), stats.price is not None
        return FeatureSpec(tuple(sources), cfg.candidates, cfg.window, text, groups, price)

    @staticmethod
    def _used(models: dict[str, Recommender], spec: FeatureSpec) -> dict[str, Recommender]:
        names = [*spec.sources, *([TEXT] if spec.text and TEXT not in spec.sources else [])]
        missing = [n for n in names if n not in models]
        if missing:
            raise ModelError(f"ranker: base models {missing} are not fitted; fit them first")
        return {n: models[n] for n in names}

    def _training_rows(self, held: Dataset, users: np.ndarray, targets: np.ndarray) -> TrainingRows:
        """Candidates, features and labels (1 = the held-out item) of the training shoppers."""
        parts = []
        size = self._chunk()
        for start in range(0, len(users), size):
            chunk = users[start : start + size]
            queries = [Query(held.sequences[u], int(u)) for u in chunk]
            cands = self._candidates(queries)
            labels = cands.items == targets[start : start + len(chunk)][cands.rows]
            parts.append((cands.rows + start, cands.features, labels))
        return TrainingRows.concat(parts, len(users))

    # -- scoring -------------------------------------------------------------------------
    def _chunk(self) -> int:
        return max(16, min(1024, _CHUNK_SCORES // (self.n_items + 1)))

    def _candidates(self, queries: Sequence[Query]) -> Candidates:
        spec, stats = self.spec_, self.stats_
        if spec is None or stats is None:
            raise NotFittedError("ranker is not fitted; call fit() or load() first")
        scores = {m: self.bases_[m].score_many(queries) for m in spec.sources}
        text = None
        if spec.text:
            content = self.bases_[TEXT]
            assert isinstance(content, ContentModel) and content.vectors_ is not None
            text = TextInputs(content.vectors_, content.profiles(queries))
        return build(spec, [q.history for q in queries], scores, stats, text)

    def _score_histories(self, queries: Sequence[Query]) -> np.ndarray:
        if self.booster_ is None or self.prior_ is None:
            raise NotFittedError("ranker is not fitted; call fit() or load() first")
        out = np.empty((len(queries), self.n_items + 1), dtype=np.float32)
        size = self._chunk()
        for start in range(0, len(queries), size):
            part = queries[start : start + size]
            out[start : start + len(part)] = self._score_chunk(part)
        return out

    def _score_chunk(self, queries: Sequence[Query]) -> np.ndarray:
        assert self.booster_ is not None and self.prior_ is not None and self.spec_ is not None
        out = np.broadcast_to(self.prior_, (len(queries), len(self.prior_))).astype(np.float64)
        warm = [i for i, q in enumerate(queries) if q.history.size]
        if not warm:
            return out
        cands = self._candidates([queries[i] for i in warm])
        if not len(cands.rows):
            return out
        predicted = np.asarray(
            self.booster_.predict(cands.features, num_threads=self._threads()), dtype=np.float64
        )
        ranks = cands.features[:, 1 : 3 * len(self.spec_.sources) : 3].astype(np.float64)
        final = predicted + _TIE_BREAK * (1.0 / (ranks + 1.0)).mean(axis=1)
        floor = np.full(len(warm), np.inf)
        np.minimum.at(floor, cands.rows, final)
        floor[~np.isfinite(floor)] = 0.0
        rows = np.asarray(warm)
        out[rows] = floor[:, None] - 2.0 + self.prior_[None, :]  # below every candidate
        out[rows[cands.rows], cands.items] = final
        return out

    def similar_items(self, item: int, k: int = 10) -> list[Scored]:
        """Items most like `item`, from the first base model (in source order) that has a
        notion of item-to-item similarity (popularity has none)."""
        if not 1 <= item <= self.n_items:
            raise ModelError(f"item index {item} is outside 1..{self.n_items}")
        for model in self.bases_.values():
            try:
                return model.similar_items(item, k)
            except ModelError:
                continue
        raise ModelError(f"none of the ranker's base models {list(self.bases_)} has similarity")

    def _threads(self) -> int:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        return self.config.num_threads or cores or os.cpu_count() or 1

    # -- persistence ---------------------------------------------------------------------
    def _extra(self) -> dict[str, Any]:
        spec = self.spec_
        if spec is None:
            raise NotFittedError("ranker is not fitted; call fit() or load() first")
        return {
            "sources": list(spec.sources), "text": spec.text, "groups": list(spec.groups),
            "price": spec.price, "bases": list(self.bases_), "timings": self.timings_,
            "importances": self.importances_, "training": self.training_,
        }  # fmt: skip

    def _save_state(self, path: Path) -> None:
        if self.booster_ is None or self.stats_ is None or self.prior_ is None:
            raise NotFittedError("ranker is not fitted; call fit() or load() first")
        save_bases(self.bases_, path / "bases")
        (path / "ranker.txt").write_text(self.booster_.model_to_string())
        arrays = {"prior": self.prior_, **self.stats_.arrays("stats_")}
        np.savez(path / "stats.npz", **arrays)  # type: ignore[arg-type]

    def _load_state(self, path: Path, extra: dict[str, Any]) -> None:
        model_file = path / "ranker.txt"
        if not model_file.is_file() or not (path / "stats.npz").is_file():
            raise ModelError(f"{path} lacks ranker.txt or stats.npz; save the ranker again")
        cfg = self.config
        self.spec_ = FeatureSpec(
            tuple(extra["sources"]), cfg.candidates, cfg.window, bool(extra["text"]),
            tuple(extra["groups"]), bool(extra["price"]),
        )  # fmt: skip
        self.bases_ = load_bases(extra["bases"], path / "bases")
        self.booster_ = lgb.Booster(model_str=model_file.read_text())
        with np.load(path / "stats.npz", allow_pickle=False) as arrays:
            loaded = {k: arrays[k] for k in arrays.files}
        self.prior_ = loaded["prior"]
        self.stats_ = ItemStats.from_arrays(loaded, "stats_")
        self.timings_ = dict(extra.get("timings", {}))
        self.importances_ = dict(extra.get("importances", {}))
        self.training_ = dict(extra.get("training", {}))
