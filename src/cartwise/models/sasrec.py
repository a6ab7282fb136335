"""SASRec: a causal Transformer that reads a shopper's latest items and predicts the next one.

Kang & McAuley (ICDM 2018), trained as "SASRec+" (Klenitskiy & Vasilev, RecSys 2023): every
prefix of a training sequence predicts its next item with a softmax cross-entropy over the whole
catalog (or over thousands of sampled negatives for very large catalogs), which is what lifts it
from the 0.134 NDCG@10 of the original binary loss to ≈0.18 on ML-1M. The network is in
:mod:`cartwise.models.sasrec_net`, the loop in :mod:`cartwise.training`.

Scores come from the *latest* history in ``Query.history`` (its last ``max_len`` items), so a new
click changes the next recommendation without retraining. A shopper with no history gets the
training popularity.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from safetensors.torch import load_file, save_file
from torch import nn

from cartwise.data.dataset import Dataset
from cartwise.data.split import EvalSet
from cartwise.errors import ModelError, NotFittedError
from cartwise.evaluation import metrics
from cartwise.models.base import Query, Recommender, Scored, as_seed, top_k
from cartwise.models.histories import popularity_prior
from cartwise.models.sasrec_net import SASRecNet, linear_cross_entropy, sampled_cross_entropy
from cartwise.training import EpochRecord, TrainResult, TrainSettings, train

_log = logging.getLogger(__name__)

_SCORE_BATCH = 512  # histories scored per forward pass
_SORT_GROUP = 64  # batches whose sequences are sorted by length together (less padding)


class SASRecConfig(BaseModel):
    """Settings of :class:`SASRec`.

    Attributes:
        max_len: most recent items the model reads (training windows and scoring).
        full_history: also train on the items before the last `max_len` of long sequences.
        embedding_size: D, the item / position / hidden size.
        num_blocks: Transformer blocks.
        num_heads: attention heads (must divide `embedding_size`).
        ffn_size: feed-forward width (default: `embedding_size`, as in SASRec).
        dropout: dropout on embeddings and residual branches.
        fused_attention: torch's fused attention kernel instead of the explicit (on CPU faster
            at these lengths) softmax(QKᵀ/√d)V; the results are the same.
        scale_embeddings: multiply input item embeddings by √D (original SASRec).
        attention_dropout: dropout on the attention probabilities.
        activation: feed-forward non-linearity.
        learning_rate: AdamW peak learning rate.
        weight_decay: AdamW decoupled weight decay on matrices.
        batch_size: sequences per training batch.
        epochs: maximum epochs (the learning-rate schedule spans all of them).
        patience: epochs without a better validation NDCG@10 before stopping (None: never).
        loss: "softmax" (cross-entropy over every item) or "sampled" (`num_negatives` uniform
            negatives shared by a batch; for catalogs where the full softmax is too slow).
        num_negatives: negatives per batch for the sampled loss.
        warmup: fraction of all steps with a linear learning-rate warmup.
        schedule: decay after warmup.
        grad_clip: max global gradient norm (None: no clipping).
        bf16: bfloat16 autocast for training (master weights stay float32); scoring is float32.
        num_threads: torch threads (default: every core this process may run on; scoring
            keeps a lower count the calling thread set, as the service's scoring thread).
        checkpoint_dir: where the training loop keeps ``best`` and ``last`` (None: nowhere).
        resume: continue from ``checkpoint_dir/last`` if present.
        progress: show a progress bar while training.
    """

    model_config = ConfigDict(extra="forbid")

    max_len: int = Field(default=200, ge=1)
    full_history: bool = False
    embedding_size: int = Field(default=64, ge=1)
    num_blocks: int = Field(default=2, ge=1)
    num_heads: int = Field(default=1, ge=1)
    ffn_size: int | None = Field(default=None, ge=1)
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0)
    fused_attention: bool = False
    scale_embeddings: bool = False
    attention_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    activation: Literal["gelu", "relu"] = "gelu"
    learning_rate: float = Field(default=1e-3, gt=0.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    batch_size: int = Field(default=128, ge=1)
    epochs: int = Field(default=100, ge=1)
    patience: int | None = Field(default=10, ge=1)
    loss: Literal["softmax", "sampled"] = "softmax"
    num_negatives: int = Field(default=4096, ge=1)
    warmup: float = Field(default=0.05, ge=0.0, lt=1.0)
    schedule: Literal["constant", "cosine", "linear"] = "cosine"
    grad_clip: float | None = Field(default=1.0, gt=0.0)
    bf16: bool = True
    num_threads: int | None = Field(default=None, ge=1)
    checkpoint_dir: Path | None = None
    resume: bool = False
    progress: bool = False

    @model_validator(mode="after")
    def _heads_divide(self) -> SASRecConfig:
        if self.embedding_size % self.num_heads:
            raise ValueError(
                f"num_heads ({self.num_heads}) must divide embedding_size ({self.embedding_size})"
            )
        return self


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # items (B, T), positions (N,), targets


class SequenceBatches:
    """Training windows in length-sorted batches: each batch is cut to its longest window, so
    almost no work is spent on padding.

    A window is the last ``max_len + 1`` items of a sequence; with `full_history`, the earlier
    part of a long sequence is cut into more windows (overlapping by one item) so that every
    item after the first is a target exactly once. A batch is ``(items (B, T), positions (N,),
    targets (N,))``: right-padded inputs, the flat indices into B·T of the positions that have
    a next item, and those next items.
    """

    def __init__(
        self, sequences: Sequence[np.ndarray], max_len: int, batch: int, seed: int,
        full_history: bool = False,
    ) -> None:  # fmt: skip
        self.windows: list[np.ndarray] = []
        for s in sequences:
            stop = len(s)
            while stop >= 2:
                self.windows.append(np.asarray(s[max(0, stop - max_len - 1) : stop]))
                stop = stop - max_len if full_history else 0
        self.batch = batch
        self.seed = seed

    def __len__(self) -> int:
        return math.ceil(len(self.windows) / self.batch)

    def epoch(self, index: int) -> Iterator[Batch]:
        """Shuffle, sort groups of batches by length, shuffle the batches (seeded by index)."""
        rng = np.random.default_rng([self.seed, index])
        order = rng.permutation(len(self.windows))
        lengths = np.fromiter((len(w) for w in self.windows), dtype=np.int64)
        group = self.batch * _SORT_GROUP
        for start in range(0, len(order), group):
            part = order[start : start + group]
            order[start : start + group] = part[np.argsort(lengths[part], kind="stable")]
        chunks = [order[i : i + self.batch] for i in range(0, len(order), self.batch)]
        for k in rng.permutation(len(chunks)):
            yield self._collate([self.windows[i] for i in chunks[k]])

    @staticmethod
    def _collate(windows: list[np.ndarray]) -> Batch:
        t = max(len(w) for w in windows) - 1
        items = np.zeros((len(windows), t), dtype=np.int64)
        targets = np.zeros((len(windows), t), dtype=np.int64)
        for row, w in enumerate(windows):
            items[row, : len(w) - 1] = w[:-1]
            targets[row, : len(w) - 1] = w[1:]
        flat = targets.reshape(-1)
        positions = np.flatnonzero(flat)
        return (
            torch.from_numpy(items),
            torch.from_numpy(positions),
            torch.from_numpy(flat[positions]),
        )


class SASRec(Recommender):
    """Self-attentive sequential recommender trained with a full (or sampled) softmax."""

    name: ClassVar[str] = "sasrec"
    config_class: ClassVar[type[BaseModel]] = SASRecConfig
    config: SASRecConfig

    def __init__(self, config: SASRecConfig | dict[str, Any] | None = None) -> None:
        super().__init__(config)
        self.net_: SASRecNet | None = None
        self.prior_: np.ndarray | None = None
        self.history_: list[dict[str, Any]] = []
        self.train_result_: TrainResult | None = None
        #: called after every training epoch (progress reporting; raise KeyboardInterrupt to stop)
        self.epoch_callbacks: list[Callable[[EpochRecord], None]] = []

    # -- training ------------------------------------------------------------------------
    def _fit(self, data: Dataset, rng: np.random.Generator, valid: Any) -> None:
        cfg = self.config
        if valid is not None and not isinstance(valid, EvalSet):
            raise ModelError(f"sasrec: valid must be an EvalSet, got {type(valid).__name__}")
        seed = as_seed(rng)
        self.prior_ = popularity_prior(data.item_counts)
        source = SequenceBatches(
            data.sequences, cfg.max_len, cfg.batch_size, seed, cfg.full_history
        )
        settings = TrainSettings(
            epochs=cfg.epochs, learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay,
            warmup=cfg.warmup, schedule=cfg.schedule, grad_clip=cfg.grad_clip,
            patience=cfg.patience if valid is not None else None, metric="ndcg@10",
            bf16=cfg.bf16, checkpoint_dir=cfg.checkpoint_dir, resume=cfg.resume,
            progress=cfg.progress, desc=f"{self.name} on {data.name}",
        )  # fmt: skip
        with _threads(cfg.num_threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net_ = self._new_net(data.n_items)
            result = train(
                self.net_, source, self._loss, settings,
                validate=self._validator(valid) if valid is not None else None,
                flops=self._flops, export_best=self.save, on_epoch_end=self.epoch_callbacks,
            )  # fmt: skip
        self.train_result_ = result
        self.history_ = [asdict(r) for r in result.history]

    def _new_net(self, n_items: int) -> SASRecNet:
        cfg = self.config
        return SASRecNet(
            n_items, cfg.max_len, cfg.embedding_size, cfg.num_blocks, cfg.num_heads,
            cfg.ffn_size or cfg.embedding_size, cfg.dropout, **self._net_options(),
        )  # fmt: skip

    def _net_options(self) -> dict[str, Any]:
        """The network's keyword options, shared with subclasses' networks."""
        cfg = self.config
        return {
            "fused_attention": cfg.fused_attention, "scale_embeddings": cfg.scale_embeddings,
            "attention_dropout": cfg.attention_dropout, "activation": cfg.activation,
        }  # fmt: skip

    def _loss(self, net: nn.Module, batch: Batch) -> torch.Tensor:
        assert isinstance(net, SASRecNet)
        items, positions, targets = batch
        hidden = net(items).flatten(0, 1)[positions]  # (N, D)
        table = net.item_emb.weight  # (V, D)
        if self.config.loss == "softmax":
            return linear_cross_entropy(hidden, table, targets)
        negatives = torch.randint(1, table.shape[0], (self.config.num_negatives,))  # (M,)
        return sampled_cross_entropy(hidden, table, targets, negatives)

    def _flops(self, batch: Batch) -> float:
        """Forward + backward FLOPs (≈ 3 × forward) of a batch, padding included."""
        cfg = self.config
        items, positions, _ = batch
        b, t = items.shape
        d, f = cfg.embedding_size, cfg.ffn_size or cfg.embedding_size
        block = 2 * (4 * d * d + 2 * d * f) + 2 * t * d  # linears + causal attention, per token
        outputs = self.n_items + 1 if cfg.loss == "softmax" else cfg.num_negatives + 1
        forward = b * t * cfg.num_blocks * block + len(positions) * 2 * d * outputs
        return 3.0 * forward

    def _validator(self, valid: EvalSet) -> Callable[[nn.Module], dict[str, float]]:
        def run(_: nn.Module) -> dict[str, float]:
            return self.validation_metrics(valid)

        return run

    def validation_metrics(self, evalset: EvalSet, k: int = 10) -> dict[str, float]:
        """NDCG@k and HR@k under the full-ranking protocol, ranks as
        :func:`cartwise.evaluation.metrics.ranks` defines them (seen items filtered, ties
        against the model), computed in torch without copies: it runs after every epoch."""
        targets = torch.from_numpy(evalset.single_targets())
        ranks = []
        with _scoring(self._net, self.config.num_threads):
            for start in range(0, len(evalset), _SCORE_BATCH):
                inputs = evalset.inputs[start : start + _SCORE_BATCH]
                scores = self._score_batch(inputs)  # (B, V)
                ranks.append(_ranks(scores, inputs, targets[start : start + len(inputs)]))
        r = torch.cat(ranks).numpy()
        return {f"ndcg@{k}": metrics.ndcg(r, k), f"hr@{k}": metrics.hit_rate(r, k)}

    # -- scoring -------------------------------------------------------------------------
    @property
    def _net(self) -> SASRecNet:
        if self.net_ is None or self.prior_ is None:
            raise NotFittedError("sasrec is not fitted; call fit() or load() first")
        return self.net_

    def _score_histories(self, queries: Sequence[Query]) -> np.ndarray:
        """Scores of many histories. Windows are run through the network in groups of similar
        length, so a short history is not padded to the longest one of the call (a serving
        request scores one long history and several one-item ones); then one product with
        the item table writes every row's logits straight into the result."""
        net, prior = self._net, self.prior_
        assert prior is not None
        windows = [q.history[-self.config.max_len :] for q in queries]
        lengths = np.fromiter(map(len, windows), dtype=np.int64, count=len(windows))
        out = np.empty((len(queries), self.n_items + 1), dtype=np.float32)
        with _scoring(net, self.config.num_threads):
            last = torch.zeros((len(queries), net.item_emb.embedding_dim))  # (N, D)
            for rows in _length_groups(lengths, _SCORE_BATCH):
                last[torch.from_numpy(rows)] = self._last_hidden([windows[r] for r in rows])
            torch.mm(last, net.item_emb.weight.t(), out=torch.from_numpy(out))  # (N, V)
        out[lengths == 0] = prior  # an empty history gets the training popularity
        return out

    def _last_hidden(self, windows: Sequence[np.ndarray]) -> torch.Tensor:
        """The hidden state at the last item of each (non-empty) window: (B, D)."""
        lengths = torch.tensor([len(w) for w in windows])
        items = torch.zeros((len(windows), int(lengths.max())), dtype=torch.long)  # (B, T)
        for row, w in enumerate(windows):
            items[row, : len(w)] = torch.from_numpy(np.asarray(w, dtype=np.int64))
        hidden: torch.Tensor = self._net(items)  # (B, T, D)
        return hidden[torch.arange(len(windows)), lengths - 1]  # (B, D)

    def _score_batch(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        """Float32 scores (B, V) from the last `max_len` items of each history; an empty
        history gets the training popularity."""
        net, prior = self._net, self.prior_
        assert prior is not None
        windows = [np.asarray(h[-self.config.max_len :], dtype=np.int64) for h in histories]
        lengths = torch.tensor([len(w) for w in windows])
        items = torch.zeros((len(windows), max(1, int(lengths.max()))), dtype=torch.long)
        for row, w in enumerate(windows):
            items[row, : len(w)] = torch.from_numpy(w)
        hidden = net(items)  # (B, T, D)
        last = hidden[torch.arange(len(windows)), (lengths - 1).clamp(min=0)]  # (B, D)
        scores = net.logits(last)  # (B, V)
        cold = lengths == 0
        if cold.any():
            scores[cold] = torch.from_numpy(prior)
        return scores

    def similar_items(self, item: int, k: int = 10) -> list[Scored]:
        """Items whose embeddings have the highest cosine similarity with `item`'s."""
        table = self._net.item_emb.weight.detach()  # (V, D)
        if not 1 <= item < table.shape[0]:
            raise ModelError(f"item index {item} is outside 1..{table.shape[0] - 1}")
        unit = torch.nn.functional.normalize(table, dim=1)  # (V, D)
        sims = (unit @ unit[item]).numpy()  # (V,)
        sims[0] = -np.inf
        return top_k(sims, k, exclude=[item])

    # -- persistence ---------------------------------------------------------------------
    def _save_state(self, path: Path) -> None:
        tensors = {f"net.{k}": v.contiguous() for k, v in self._net.state_dict().items()}
        assert self.prior_ is not None
        tensors["prior"] = torch.from_numpy(self.prior_)
        save_file(tensors, str(path / "weights.safetensors"))

    def _load_state(self, path: Path, extra: dict[str, Any]) -> None:
        file = path / "weights.safetensors"
        if not file.is_file():
            raise ModelError(f"{path} has no weights.safetensors; save the model again")
        tensors = load_file(str(file))
        net = self._new_net(self.n_items)
        try:
            net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
        except RuntimeError as exc:
            raise ModelError(f"{file} does not match {path / 'config.json'}: {exc}") from exc
        self.net_ = net.eval()
        self.prior_ = tensors["prior"].numpy()

    # -- explanations --------------------------------------------------------------------
    def attention_weights(self, history: Sequence[int] | np.ndarray) -> np.ndarray:
        """How much the last position attends to each item of `history`'s window (its last
        `max_len` items, oldest first) in the last block, averaged over heads: which past
        events drove the scores. Non-negative and summing to 1; empty for an empty history.

        Raises:
            ModelError: an index is outside 1..n_items.
        """
        window = np.asarray(history, dtype=np.int64)[-self.config.max_len :]
        net = self._net
        if not len(window):
            return np.zeros(0)
        if window.min() < 1 or window.max() > self.n_items:
            raise ModelError(f"history indices must be in 1..{self.n_items}, got {window.tolist()}")
        with _scoring(net, self.config.num_threads):
            att = net.last_attention(torch.from_numpy(window)[None, :])  # (1, T, T)
        weights: np.ndarray = att[0, -1].double().numpy()  # (T,)
        return weights


def _length_groups(lengths: np.ndarray, most: int) -> list[np.ndarray]:
    """Indices of the non-empty windows, shortest first, cut into groups of at most `most`
    whose longest window is at most twice their shortest (padding stays under half)."""
    warm = np.flatnonzero(lengths)
    order = warm[np.argsort(lengths[warm], kind="stable")]
    groups: list[np.ndarray] = []
    start = 0
    for end in range(1, len(order) + 1):
        if (
            end == len(order)
            or end - start == most
            or lengths[order[end]] > 2 * lengths[order[start]]
        ):
            groups.append(order[start:end])
            start = end
    return groups


def _ranks(scores: torch.Tensor, seen: Sequence[np.ndarray], targets: torch.Tensor) -> torch.Tensor:
    """Pessimistic 0-based ranks, as metrics.ranks: ``|{j ∉ seen, j ≥ 1 : s_j ≥ s_target}| − 1``,
    ``n_items`` when the target was seen. Masks `scores` in place."""
    rows = torch.arange(len(seen))
    lengths = torch.tensor([len(h) for h in seen])
    scores[:, 0] = -torch.inf
    if int(lengths.sum()):
        cols = torch.from_numpy(np.concatenate(seen).astype(np.int64))
        scores[torch.repeat_interleave(rows, lengths), cols] = -torch.inf
    target = scores[rows, targets]  # (B,)
    ranks = (scores >= target[:, None]).sum(dim=1) - 1
    ranks[torch.isinf(target)] = scores.shape[1] - 1
    return ranks


@contextmanager
def _scoring(net: nn.Module, num_threads: int | None) -> Iterator[None]:
    """Eval mode, no autograd and the configured threads; the mode is restored after.

    Unconfigured, scoring keeps the calling thread's torch threads when they are fewer than
    the cores: a server pins its scoring thread to one (see :mod:`cartwise.serving.scorer`),
    and switching the thread count on every call costs more than a small forward pass.
    """
    was_training = net.training
    if was_training:  # switching walks every module: skip it for a loaded (eval) network
        net.eval()
    try:
        with _threads(num_threads, lower_only=True), torch.no_grad():
            yield
    finally:
        if was_training:
            net.train()


@contextmanager
def _threads(n: int | None, *, lower_only: bool = False) -> Iterator[None]:
    """Use `n` torch threads (default: the cores this process may run on, or with
    `lower_only` the current count if that is lower), then restore."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    wanted = n or cores or 1
    if n is None and lower_only:
        wanted = min(wanted, torch.get_num_threads())
    before = torch.get_num_threads()
    if wanted != before:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if wanted != before:
            torch.set_num_threads(before)
