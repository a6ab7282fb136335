"""SASRec: a causal Transformer that reads a shopper's latest items and predicts the next one.

Kang & McAuley (ICDM 2018), trained as "SASRec+" (Klenitskiy & Vasilev, RecSys 2023): every
prefix of a training sequence predicts its next item with a softmax cross-entropy over the whole
catalog (or over thousands of sampled negatives for very large catalogs), which is what lifts it
from the 0.134 NDCG@10 of the original binary loss to ≈0.18 on ML-1M. The network is in
:mod:`cartwise.models.sasrec_net`, the loop in :mod:`cartwise.training`.

Scores come from the *latest* history in ``Query.history`` (its last ``max_len`` items), so a new
click changes the next recommendation without retraining. A shopper with no history gets the
training popularity.

With ``event_aware`` on, the same class reads what the shopper *did*: each position embeds the
item, the event kind (view, add to cart, purchase, return and the shop's own kinds) and the
bucketed time since the previous event, as action-type embeddings do in HSTU, BST and
PinnerFormer; it trains on every kind a shopper does with an item and predicts the next item
they engage with, each target weighted by its kind (``target_kinds``, ``kind_weights``), so
that after a phone *purchase* it ranks that phone's cases where the id-only model sees one more
phone. It also reads the links the catalog declares between the last event's item and every
candidate (a case naming the phone it fits, a card format a camera and a card share), with a
weight per event kind learnt in training (``relations``, :mod:`cartwise.models.sasrec_relations`).
Batches and per-position inputs are in :mod:`cartwise.models.sasrec_batches`; off, the
model, its batches and its random numbers are exactly the id-only SASRec's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel
from safetensors.torch import load_file, save_file
from torch import nn

from cartwise.data.dataset import Dataset, KindSelection, Vocabulary
from cartwise.data.split import EvalSet
from cartwise.errors import DataError, ModelError, NotFittedError
from cartwise.evaluation import metrics
from cartwise.models.base import Query, Recommender, Scored, as_seed, top_k
from cartwise.models.histories import popularity_prior
from cartwise.models.sasrec_auto import derive, notes
from cartwise.models.sasrec_batches import (
    N_GAP_BUCKETS,
    Batch,
    EventBatch,
    EventBatches,
    SequenceBatches,
    event_windows,
    target_weights,
)
from cartwise.models.sasrec_config import SASRecConfig
from cartwise.models.sasrec_net import SASRecNet, linear_cross_entropy, sampled_cross_entropy
from cartwise.models.sasrec_relations import ItemRelations, Slots, catalog_slots
from cartwise.models.sasrec_scoring import (
    length_groups,
    padded,
    protocol_ranks,
    scoring,
    threads,
)
from cartwise.training import (
    BatchSource,
    EpochRecord,
    TrainResult,
    TrainSettings,
    distributed,
    train,
)

_log = logging.getLogger(__name__)

_SCORE_BATCH = 512  # histories scored per forward pass
#: Catalog size above which the sampled-softmax item table trains with row-sparse gradients
#: (``sparse_items`` unset): a batch touches at most its targets and the shared negatives (tens of
#: thousands of rows), and a dense AdamW step over every row of a larger table costs more than
#: the batch itself (1,000,000 × 64 rows: ~1.3 GB of memory traffic per step).
SPARSE_ABOVE = 100_000


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
        #: event-aware: the kind vocabulary (codes 1..k, 0 = unknown) and the code a history
        #: without kinds reads as (the most frequent kind of the training data)
        self.kinds_: Vocabulary | None = None
        self.default_kind_: int = 0
        #: per item index, how often its buyers bought it again (Dataset.repurchase_rates)
        self.repurchase_: np.ndarray | None = None
        #: event-aware with `relations`: the catalog's links (at fit), or after a load the
        #: keys and slot count the saved tables have
        self.slots_: Slots | None = None
        self.relation_shape_: dict[str, Any] | None = None
        #: called after every training epoch (progress reporting; raise KeyboardInterrupt to stop)
        self.epoch_callbacks: list[Callable[[EpochRecord], None]] = []
        #: the settings derived from the data at fit (name → value and why; see sasrec_auto)
        self.derived_: dict[str, dict[str, Any]] = {}
        #: the fit's training throughput (GFLOP/s, the measured peak and the share of it)
        self.throughput_: dict[str, Any] = {}
        #: the clock the time budget is measured with (tests inject a fake one)
        self.clock: Callable[[], float] = time.monotonic

    @property
    def input_kinds(self) -> KindSelection:
        """The event-aware model reads every kind a shopper does with an item."""
        return "behaviour" if self.config.event_aware else "positive"

    # -- training ------------------------------------------------------------------------
    def _fit(self, data: Dataset, rng: np.random.Generator, valid: Any) -> None:
        started = self.clock()
        self.config, derived = derive(self.config, data)
        self.derived_ = {d.name: d.to_dict() for d in derived}
        self.train_on(data, as_seed(rng), valid, started=started, messages=notes(derived))

    def train_on(
        self, data: Dataset, seed: int, valid: Any, *, started: float,
        messages: tuple[str, ...] = (), start_from: Callable[[SASRecNet], None] | None = None,
        first_targets: Sequence[int] | None = None,
    ) -> None:  # fmt: skip
        """Build the network and train it on `data` with the config as it is (nothing derived):
        the second half of :meth:`fit`, and what an incremental update
        (:mod:`cartwise.models.sasrec_update`) runs with `start_from` (fills the fresh network
        with a parent's weights) and `first_targets` (per shopper, the first event that is a
        loss target; the earlier ones are context only)."""
        if valid is not None and not isinstance(valid, EvalSet):
            raise ModelError(f"sasrec: valid must be an EvalSet, got {type(valid).__name__}")
        cfg = self.config
        self.items_ = data.items
        self.prior_ = popularity_prior(data.item_counts)
        self.repurchase_ = data.repurchase_rates()
        source = self._batches(data, seed, first_targets)
        sparse = self._sparse_items(data.n_items)
        if sparse:
            messages = (*messages, "item table: row-sparse gradients, RowAdamW")
        if cfg.sparse_items is None:  # the saved config records which optimiser trained it
            self.config = cfg = cfg.model_copy(update={"sparse_items": sparse})
        settings = TrainSettings(
            epochs=cfg.epochs, learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay,
            warmup=cfg.warmup, schedule=cfg.schedule, grad_clip=cfg.grad_clip,
            patience=cfg.patience if valid is not None else None, metric="ndcg@10",
            bf16=cfg.bf16, checkpoint_dir=cfg.checkpoint_dir, resume=cfg.resume,
            progress=cfg.progress, desc=f"{self.name} on {data.name}",
            time_budget=cfg.time_budget, clock=self.clock, started=started,
            device=str(distributed.device(cfg.device)), notes=messages,
        )  # fmt: skip
        with threads(cfg.num_threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net_ = self._new_net(data.n_items, sparse=sparse)
            if start_from is not None:
                start_from(self.net_)
            result = train(
                self.net_, source, self._loss, settings,
                validate=self._validator(valid) if valid is not None else None,
                flops=self._flops, export_best=self.save, on_epoch_end=self.epoch_callbacks,
            )  # fmt: skip
        self.train_result_ = result
        self.history_ = [asdict(r) for r in result.history]
        self.throughput_ = result.throughput.to_dict() if result.throughput else {}

    def _batches(
        self, data: Dataset, seed: int, first_targets: Sequence[int] | None = None
    ) -> BatchSource[Batch | EventBatch]:
        """The id-only windows, or (event-aware) the windows with kinds, gaps and weights;
        with `first_targets`, only later events are targets (every one of them: full history)."""
        cfg = self.config
        full = cfg.full_history or first_targets is not None
        if not cfg.event_aware:
            return SequenceBatches(
                data.sequences, cfg.max_len, cfg.batch_size, seed, full,
                rank=distributed.rank(), world=distributed.world(), first_targets=first_targets,
            )  # fmt: skip
        if data.kinds is None or data.kind_vocab is None:
            raise DataError(
                f"sasrec with event_aware=true needs event kinds, and '{data.name}' has none; "
                "build it with Dataset.from_store(store, kinds='behaviour') or a 'kind' column"
            )
        self.kinds_ = data.kind_vocab
        counts = np.bincount(np.concatenate(data.kinds), minlength=len(self.kinds_))
        self.default_kind_ = int(counts[1:].argmax()) + 1 if len(counts) > 1 else 0
        weights = target_weights(self.kinds_, cfg.target_kinds, cfg.kind_weights)
        self.slots_ = catalog_slots(data.item_info, data.items) if cfg.relations else None
        if self.slots_ is not None:
            self.relation_shape_ = {"keys": self.slots_.keys, "slots": self.slots_.size}
        return EventBatches(
            data.sequences, data.kinds, data.timestamps if cfg.time_gaps else None, weights,
            cfg.max_len, cfg.batch_size, seed, full, cfg.repeat_targets,
            rank=distributed.rank(), world=distributed.world(), first_targets=first_targets,
        )  # fmt: skip

    def _sparse_items(self, n_items: int) -> bool:
        """Whether the item table trains with row-sparse gradients (see ``sparse_items``):
        only with the sampled loss, a leaf table (not the event-aware links' widened one) and
        outside torchrun."""
        cfg = self.config
        if cfg.loss != "sampled" or distributed.active():
            return False
        if cfg.event_aware and cfg.relations:
            return False  # the loss's table is [item table | links]: its gradient is dense
        return cfg.sparse_items if cfg.sparse_items is not None else n_items > SPARSE_ABOVE

    def _new_net(self, n_items: int, *, sparse: bool = False) -> SASRecNet:
        cfg = self.config
        events: dict[str, int] = {}
        if cfg.event_aware:
            if self.kinds_ is None:
                raise ModelError("sasrec: the kind vocabulary is missing; fit() or load() it")
            events = {"n_kinds": len(self.kinds_), "n_gaps": N_GAP_BUCKETS * cfg.time_gaps}
        net = SASRecNet(
            n_items, cfg.max_len, cfg.embedding_size, cfg.num_blocks, cfg.num_heads,
            cfg.ffn_size or cfg.embedding_size, cfg.dropout, **self._net_options(),
            n_kinds=events.get("n_kinds", 0), n_gaps=events.get("n_gaps", 0),
            sparse_items=sparse,
        )  # fmt: skip
        if cfg.event_aware and self.kinds_ is not None:
            net.relations = self._relations(n_items, len(self.kinds_))
        return net

    def _relations(self, n_items: int, n_kinds: int) -> ItemRelations | None:
        """The links module of a new network: from the fitted slots, or empty tables of the
        saved shapes (filled by the loaded state); None without links."""
        if self.slots_ is not None:
            return ItemRelations(self.slots_, n_kinds)
        shape = self.relation_shape_
        if shape is None:
            return None
        return ItemRelations.empty(list(shape["keys"]), n_items, int(shape["slots"]), n_kinds)

    def _net_options(self) -> dict[str, Any]:
        """The network's keyword options, shared with subclasses' networks."""
        cfg = self.config
        return {
            "fused_attention": cfg.fused_attention, "scale_embeddings": cfg.scale_embeddings,
            "attention_dropout": cfg.attention_dropout, "activation": cfg.activation,
        }  # fmt: skip

    def _loss(self, net: nn.Module, batch: Batch | EventBatch) -> torch.Tensor:
        """`net` is the network, or its DDP wrapper under torchrun (the forward pass goes
        through it, so gradients are all-reduced)."""
        core = distributed.unwrap(net)
        assert isinstance(core, SASRecNet)
        if isinstance(batch, EventBatch):
            return self._event_loss(net, core, batch)
        items, positions, targets = batch
        hidden = net(items).flatten(0, 1)[positions]  # (N, D)
        table = core.item_emb.weight  # (V, D)
        if self.config.loss == "softmax":
            return linear_cross_entropy(hidden, table, targets)
        negatives = self._negatives(table)  # (M,)
        sparse = core.item_emb.sparse
        return sampled_cross_entropy(hidden, table, targets, negatives, sparse=sparse)

    def _event_loss(self, net: nn.Module, core: SASRecNet, batch: EventBatch) -> torch.Tensor:
        """The next item's cross-entropy at every position whose next event is a target
        kind, weighted by that kind's weight."""
        hidden = net(batch.items, batch.kinds, batch.gaps).flatten(0, 1)  # (B·T, D)
        hidden = hidden[batch.positions]  # (N, D)
        table = core.item_emb.weight  # (V, D)
        if core.relations is not None:  # the links as extra columns: h·e_j + q·target_j
            last = batch.items.flatten()[batch.positions], batch.kinds.flatten()[batch.positions]
            query = core.relations.query(*last)  # (N, M)
            hidden = torch.cat([hidden, query.to(hidden.dtype)], dim=1)  # (N, D + M)
            table = torch.cat([table, core.relations.target], dim=1)  # (V, D + M)
        if self.config.loss == "softmax":
            return linear_cross_entropy(hidden, table, batch.targets, batch.weights)
        negatives = self._negatives(table)  # (M,)
        sparse = core.item_emb.sparse and core.relations is None  # a leaf table only
        return sampled_cross_entropy(
            hidden, table, batch.targets, negatives, batch.weights, sparse=sparse
        )

    def _negatives(self, table: torch.Tensor) -> torch.Tensor:
        """`num_negatives` uniform rows of `table` (padding excluded), on its device."""
        # drawn on the CPU generator whatever the device: the same seed, the same negatives
        drawn = torch.randint(1, table.shape[0], (self.config.num_negatives,))  # (M,)
        return drawn.to(table.device)

    def _flops(self, batch: Batch | EventBatch) -> float:
        """Forward + backward FLOPs (≈ 3 × forward) of a batch, padding included."""
        cfg = self.config
        items = batch[0]
        positions = batch.positions if isinstance(batch, EventBatch) else batch[1]
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
        against the model), computed in torch without copies: it runs after every epoch.
        Sets with several targets per user or no seen-item filter (next basket) are ranked as
        :func:`cartwise.evaluation.protocol.evaluate` ranks them (NDCG over the targets, HR =
        any target in the top k)."""
        if not evalset.exclude_seen or any(len(t) != 1 for t in evalset.targets):
            return self._basket_metrics(evalset, k)
        targets = torch.from_numpy(evalset.single_targets())
        ranks = []
        with scoring(self._net, self.config.num_threads):
            for start in range(0, len(evalset), _SCORE_BATCH):
                inputs = evalset.inputs[start : start + _SCORE_BATCH]
                scores = self._evalset_scores(evalset, start, len(inputs))  # (B, V)
                ranks.append(protocol_ranks(scores, inputs, targets[start : start + len(inputs)]))
        r = torch.cat(ranks).numpy()
        return {f"ndcg@{k}": metrics.ndcg(r, k), f"hr@{k}": metrics.hit_rate(r, k)}

    def _basket_metrics(self, evalset: EvalSet, k: int) -> dict[str, float]:
        ranks: list[np.ndarray] = []
        with scoring(self._net, self.config.num_threads):
            for start in range(0, len(evalset), _SCORE_BATCH):
                inputs = evalset.inputs[start : start + _SCORE_BATCH]
                scores = self._evalset_scores(evalset, start, len(inputs)).numpy()  # (B, V)
                seen = inputs if evalset.exclude_seen else None
                ranks += metrics.multi_ranks(
                    scores, evalset.targets[start : start + len(inputs)], seen
                )
        best = np.fromiter((r.min() for r in ranks), dtype=np.int64, count=len(ranks))
        return {f"ndcg@{k}": metrics.ndcg_multi(ranks, k), f"hr@{k}": metrics.hit_rate(best, k)}

    def _evalset_scores(self, evalset: EvalSet, start: int, n: int) -> torch.Tensor:
        """Scores (n, V) of the evaluation users start..start + n, with their input kinds and
        times when event-aware."""
        inputs = evalset.inputs[start : start + n]
        if not self.config.event_aware:
            return self._score_batch(inputs)
        none: list[np.ndarray | None] = [None] * n
        kinds = none if evalset.input_kinds is None else evalset.input_kinds[start : start + n]
        times = none if evalset.input_times is None else evalset.input_times[start : start + n]
        return self._event_scores(inputs, list(kinds), list(times))

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
        if self.config.event_aware:
            with scoring(net, self.config.num_threads):
                kinds, times = [q.kinds for q in queries], [q.times for q in queries]
                scores = self._event_scores([q.history for q in queries], kinds, times)
            return scores.numpy()
        out = np.empty((len(queries), self.n_items + 1), dtype=np.float32)
        with scoring(net, self.config.num_threads):
            last, lengths = self._id_states(queries)  # (N, D)
            torch.mm(last, net.item_emb.weight.t(), out=torch.from_numpy(out))  # (N, V)
        out[lengths == 0] = prior  # an empty history gets the training popularity
        return out

    def _id_states(self, queries: Sequence[Query]) -> tuple[torch.Tensor, np.ndarray]:
        """The id-only network's last hidden state (N, D) of each query's window (zeros for
        an empty one), and the window lengths."""
        net = self._net
        windows = [q.history[-self.config.max_len :] for q in queries]
        lengths = np.fromiter(map(len, windows), dtype=np.int64, count=len(windows))
        last = torch.zeros((len(queries), net.item_emb.embedding_dim))  # (N, D)
        for rows in length_groups(lengths, _SCORE_BATCH):
            last[torch.from_numpy(rows)] = self._last_hidden([windows[r] for r in rows])
        return last, lengths

    def query_vectors(self, queries: Sequence[Query]) -> np.ndarray:
        """The last hidden state (B, D) of each history: ``score = query_vectors @
        item_matrix.T`` (see :class:`cartwise.models.vectors.DotProduct`); zeros for empty
        histories. With the catalog's links, each row continues with the last event's link
        query (M columns, :meth:`ItemRelations.query`)."""
        self.check_queries(queries)
        net = self._net
        with scoring(net, self.config.num_threads):
            if self.config.event_aware:
                kinds, times = [q.kinds for q in queries], [q.times for q in queries]
                histories = [q.history for q in queries]
                last, _ = self._event_last(histories, kinds, times)
                if net.relations is not None:
                    events = self._last_events(histories, kinds, last.device)
                    last = torch.cat([last, net.relations.query(*events)], dim=1)
            else:
                last, _ = self._id_states(queries)
        return np.ascontiguousarray(last.float().cpu().numpy(), dtype=np.float32)

    def item_matrix(self) -> np.ndarray:
        """The (tied) item embedding table (n_items + 1, D), row 0 the padding; with the
        catalog's links, continued by their fixed item-side table (M columns)."""
        weight = self._net.item_emb.weight.detach()
        relations = self._net.relations
        if relations is not None:
            weight = torch.cat([weight, relations.target], dim=1)
        table: np.ndarray = weight.float().cpu().numpy()
        return table

    def _last_hidden(
        self,
        windows: Sequence[np.ndarray],
        kinds: Sequence[np.ndarray] | None = None,
        gaps: Sequence[np.ndarray] | None = None,
    ) -> torch.Tensor:
        """The hidden state at the last item of each (non-empty) window: (B, D); event-aware
        with each window's kind codes and gap buckets."""
        device = self._net.item_emb.weight.device
        lengths = torch.tensor([len(w) for w in windows])
        items = padded(windows, int(lengths.max())).to(device)  # (B, T)
        if kinds is None or gaps is None:
            hidden: torch.Tensor = self._net(items)  # (B, T, D)
        else:
            t = int(lengths.max())
            codes, buckets = padded(kinds, t).to(device), padded(gaps, t).to(device)
            hidden = self._net(items, codes, buckets)  # (B, T, D)
        return hidden[torch.arange(len(windows), device=device), (lengths - 1).to(device)]

    def _event_scores(
        self,
        histories: Sequence[np.ndarray],
        kinds: Sequence[np.ndarray | None],
        times: Sequence[np.ndarray | None],
    ) -> torch.Tensor:
        """Event-aware scores (B, V) of histories with their kind codes and times (None: the
        default kind, no gaps), in length groups; an empty history gets the popularity."""
        prior = self.prior_
        assert prior is not None
        last, lengths = self._event_last(histories, kinds, times)  # (B, D)
        scores = self._net.logits(last)  # (B, V)
        relations = self._net.relations
        if relations is not None:
            scores = scores + relations.bias(*self._last_events(histories, kinds, last.device))
        scores = scores.float().cpu()
        cold = torch.from_numpy(lengths == 0)
        if cold.any():
            scores[cold] = torch.from_numpy(prior)
        return scores

    def _last_events(
        self, histories: Sequence[np.ndarray], kinds: Sequence[np.ndarray | None],
        device: torch.device,
    ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """Each history's last item (0 when empty) and its kind code (the default kind for a
        history without kinds): what the catalog's links are read at."""
        items = [int(h[-1]) if len(h) else 0 for h in histories]
        codes = [int(k[-1]) if k is not None and len(k) else self.default_kind_ for k in kinds]
        return torch.tensor(items, device=device), torch.tensor(codes, device=device)

    def _event_last(
        self,
        histories: Sequence[np.ndarray],
        kinds: Sequence[np.ndarray | None],
        times: Sequence[np.ndarray | None],
    ) -> tuple[torch.Tensor, np.ndarray]:
        """The event-aware network's last hidden state (B, D) of each history (zeros for an
        empty one), in length groups, and the window lengths."""
        net = self._net
        assert self.kinds_ is not None
        windows = event_windows(
            histories, kinds, times, self.config.max_len, self.default_kind_, len(self.kinds_)
        )
        lengths = np.fromiter((len(w[0]) for w in windows), dtype=np.int64, count=len(windows))
        device = net.item_emb.weight.device
        last = torch.zeros((len(windows), net.item_emb.embedding_dim), device=device)  # (B, D)
        for rows in length_groups(lengths, _SCORE_BATCH):
            items, codes, gaps = ([windows[r][part] for r in rows] for part in range(3))
            last[torch.from_numpy(rows).to(device)] = self._last_hidden(items, codes, gaps)
        return last, lengths

    def kind_codes(self, names: Sequence[str]) -> np.ndarray:
        """Codes of event kind names for :attr:`Query.kinds`: a kind the model did not see in
        training reads as its most frequent kind. All zeros for the id-only model."""
        if self.kinds_ is None:
            return np.zeros(len(names), dtype=np.int64)
        found = [self.kinds_.get(str(n)) for n in names]
        return np.asarray([self.default_kind_ if c is None else c for c in found], np.int64)

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
        device = net.item_emb.weight.device  # the GPU while validating a CUDA training run
        hidden = net(items.to(device))  # (B, T, D)
        ends = (lengths - 1).clamp(min=0).to(device)
        last = hidden[torch.arange(len(windows), device=device), ends]  # (B, D)
        scores = net.logits(last).float().cpu()  # (B, V)
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
        state = self._net.state_dict()
        tensors = {f"net.{k}": v.detach().cpu().contiguous() for k, v in state.items()}
        assert self.prior_ is not None
        tensors["prior"] = torch.from_numpy(self.prior_)
        if self.repurchase_ is not None:
            tensors["repurchase"] = torch.from_numpy(self.repurchase_)
        save_file(tensors, str(path / "weights.safetensors"))

    def _extra(self) -> dict[str, Any]:
        out: dict[str, Any] = {"derived": self.derived_} if self.derived_ else {}
        if self.kinds_ is not None:
            out |= {"event_kinds": self.kinds_.to_json(), "default_kind": self.default_kind_}
        if self.relation_shape_ is not None:
            out["relations"] = self.relation_shape_
        return out

    def _load_state(self, path: Path, extra: dict[str, Any]) -> None:
        file = path / "weights.safetensors"
        if not file.is_file():
            raise ModelError(f"{path} has no weights.safetensors; save the model again")
        tensors = load_file(str(file))
        self.derived_ = dict(extra.get("derived", {}))
        if self.config.event_aware:
            if "event_kinds" not in extra:
                raise ModelError(f"{path / 'config.json'} lacks extra.event_kinds; save again")
            self.kinds_ = Vocabulary.from_json(extra["event_kinds"])
            self.default_kind_ = int(extra.get("default_kind", 0))
            self.slots_, self.relation_shape_ = None, extra.get("relations")
        net = self._new_net(self.n_items)
        try:
            net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")})
        except RuntimeError as exc:
            raise ModelError(f"{file} does not match {path / 'config.json'}: {exc}") from exc
        self.net_ = net.eval()
        self.prior_ = tensors["prior"].numpy()
        repurchase = tensors.get("repurchase")
        self.repurchase_ = None if repurchase is None else repurchase.numpy()

    # -- explanations --------------------------------------------------------------------
    def attention_weights(
        self,
        history: Sequence[int] | np.ndarray,
        kinds: Sequence[int] | np.ndarray | None = None,
        times: Sequence[float] | np.ndarray | None = None,
    ) -> np.ndarray:
        """How much the last position attends to each item of `history`'s window (its last
        `max_len` items, oldest first) in the last block, averaged over heads: which past
        events drove the scores. Non-negative and summing to 1; empty for an empty history.
        The event-aware model also reads the events' kind codes and times.

        Raises:
            ModelError: an index is outside 1..n_items.
        """
        full = np.asarray(history, dtype=np.int64)
        window = full[-self.config.max_len :]
        net = self._net
        if not len(window):
            return np.zeros(0)
        if window.min() < 1 or window.max() > self.n_items:
            raise ModelError(f"history indices must be in 1..{self.n_items}, got {window.tolist()}")
        inputs = [torch.from_numpy(window)[None, :]]
        if self.config.event_aware and self.kinds_ is not None:
            k = None if kinds is None else np.asarray(kinds, dtype=np.int64)
            t = None if times is None else np.asarray(times, dtype=np.float64)
            _, codes, gaps = event_windows(
                [full], [k], [t], self.config.max_len, self.default_kind_, len(self.kinds_)
            )[0]
            inputs += [torch.from_numpy(codes)[None, :], torch.from_numpy(gaps)[None, :]]
        with scoring(net, self.config.num_threads):
            att = net.last_attention(*inputs)  # (1, T, T)
        weights: np.ndarray = att[0, -1].double().numpy()  # (T,)
        return weights
