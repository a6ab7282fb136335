"""Transfer: a SASRec over item *text* only, pretrained on other shops, for a shop's first day.

Item i's vector is ``W · t_i``: its frozen unit text vector from the sentence encoder (E-dim)
through a learnt (D × E) projection, with no id embedding at all (UniSRec's and RecFormer's
point: a model that never learnt item ids works in any catalog). Everything that does not
depend on the catalog — the projection, the position embeddings, the Transformer blocks, the
final norm — is the *shared state*: it is pretrained on the public datasets with text
(``benchmarks/transfer.py --pretrain``), shipped with the package (a few hundred kB,
``models/pretrained/transfer-minilm``), and loaded into a network built over the shop's own
catalog, whose text vectors are computed on the shop's machine.

- ``fine_tune=false``: zero-shot. ``fit`` only encodes the catalog and loads the shared state;
  no gradient step sees the shop's events (the popularity prior for empty histories excepted).
- ``fine_tune=true`` (default): the shared state is the starting point of an ordinary SASRec
  training run on the shop's events (same loop, time budget, early stopping).
- ``pretrained=null`` trains the same text-only network from scratch (what pretraining runs).

Item j's score for a history is ``h · (W t_j) + s · cos(p, t_j)``: the Transformer's last
hidden state against the projected text, plus a *text path*, the cosine of the item's text with
the shopper's content profile ``p`` (the recency-weighted profile of the ``content`` model,
:func:`~cartwise.models.text.profile_weights`), weighted by the learnt scalar ``s``
(``text_scale`` at the start; pretrained weights written before the text path existed load
with that value). Without it, the zero-shot network ranked amazon-scientific (pretrained on
the other two text datasets) far below popularity and text similarity (test NDCG@10 0.0034
against 0.018 and 0.062): a projection learnt on other catalogs loses the fine text distinctions
a new catalog's items differ by, which the cosine keeps.

Training ranks each target against the catalog *except the items already in the input*
(their logits are -inf, the target's own excepted), as serving and the evaluation protocol
never recommend them.

The architecture (``embedding_size``, ``num_blocks``, ``num_heads``, ``ffn_size``, ``max_len``,
``encoder``, and the profile's ``profile_history`` and ``profile_decay``) is read from the
pretrained folder, so a config cannot ask for a network the weights do not fit. The training
softmax's candidates and the cold-item handling are the hybrid's
(:class:`~cartwise.models.hybrid.Hybrid`): items with training events are the candidates.

Shapes: B = batch, T = window, D = embedding size, E = text dimension, V = items + 1,
N = positions with a target, S = candidate (seen) items, K = banned items per position.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field
from safetensors.torch import load_file, save_file

from cartwise.data.dataset import Dataset
from cartwise.errors import ModelError
from cartwise.models.base import Query, as_seed
from cartwise.models.histories import popularity_prior
from cartwise.models.hybrid import Hybrid, HybridConfig, HybridNet, TextItemEmbedding
from cartwise.models.sasrec import SASRec
from cartwise.models.sasrec_batches import Batch, EventBatch
from cartwise.models.sasrec_losses import TextPath
from cartwise.models.sasrec_net import SASRecNet, linear_cross_entropy, sampled_cross_entropy
from cartwise.models.sasrec_scoring import padded, scoring
from cartwise.models.text import ContentConfig, item_vectors, make_encoder, profile_weights
from cartwise.training import distributed

#: The pretrained weights shipped with the package.
BUILTIN = Path(__file__).resolve().parent / "pretrained" / "transfer-minilm"
#: Settings a pretrained folder fixes (the network's shape and the text encoder).
ARCHITECTURE = (
    "embedding_size", "num_blocks", "num_heads", "ffn_size", "max_len", "encoder",
    "profile_history", "profile_decay",
)  # fmt: skip
_SCORE_BATCH = 512  # histories scored per forward pass
_CONTENT = ContentConfig()  # the content model's profile settings, the text path's defaults
_WEIGHTS, _CONFIG = "shared.safetensors", "config.json"


class TransferConfig(HybridConfig):
    """The hybrid's settings (its id-side settings unused) plus where the weights start.

    Attributes:
        pretrained: ``"builtin"`` (the shipped weights), a folder written by
            :func:`save_pretrained`, or None (train from scratch).
        fine_tune: train on the shop's events from the pretrained weights (False: zero-shot).
        text_scale: the text path's weight ``s`` in a new network (then learnt); also what
            pretrained weights without one get.
        profile_history: latest history items in the text path's profile (the content model's).
        profile_decay: the profile's weight ratio between an item and the next newer one.
    """

    pretrained: str | None = "builtin"
    fine_tune: bool = True
    max_len: int = Field(default=50, ge=1)
    cold_neighbours: int = Field(default=0, ge=0)
    text_scale: float = 20.0
    profile_history: int = Field(default=_CONTENT.max_history, ge=1)
    profile_decay: float = Field(default=_CONTENT.recency_decay, gt=0.0, le=1.0)


class TextOnlyEmbedding(TextItemEmbedding):
    """Item table ``W t``: no id embedding, nothing borrowed (every item is text only)."""

    def table(self) -> torch.Tensor:
        if self._fixed is not None:
            return self._fixed
        table: torch.Tensor = self.proj(self.text)  # (V, D)
        return table

    def rows_table(self, rows: torch.Tensor) -> torch.Tensor:
        """The (V, D) table with only `rows` (any shape, repeats allowed) projected and the
        other rows zero: for a step that reads no other row, R projections instead of V."""
        rows = torch.unique(rows.reshape(-1))  # (R,)
        zeros = self.text.new_zeros(self.text.shape[0], self.embedding_dim)  # (V, D)
        return zeros.index_copy(0, rows, self.proj(self.text[rows]))

    def borrow(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to borrow: no item has an id embedding."""


class TransferNet(HybridNet):
    """HybridNet with a :class:`TextOnlyEmbedding` item table and the text path: the scalar
    ``text_scale`` (s) and the content profile of every prefix of the input."""

    def __init__(
        self, text: torch.Tensor, seen: torch.Tensor, *args: Any, text_scale: float = 20.0,
        profile_history: int = 20, profile_decay: float = 0.8, **options: Any,
    ) -> None:  # fmt: skip
        super().__init__(text, seen, *args, **options)
        dim = self.item_emb.embedding_dim
        self.item_emb = TextOnlyEmbedding(text, seen, dim, id_dropout=0.0)
        self.text_scale = torch.nn.Parameter(torch.tensor(float(text_scale)))
        self.profile = (profile_history, profile_decay)
        self.register_load_state_dict_pre_hook(_default_scale)  # type: ignore[no-untyped-call]

    @property
    def items(self) -> TextOnlyEmbedding:
        """The item table module."""
        assert isinstance(self.item_emb, TextOnlyEmbedding)
        return self.item_emb

    def profiles(self, items: torch.Tensor) -> torch.Tensor:
        """Unit content profile of the history up to each position of right-padded `items`:
        (B, T) → (B, T, E); zero rows where the items have no text."""
        text = F.embedding(items, self.items.text)  # (B, T, E)
        weights = profile_weights(items.shape[1], *self.profile)  # (T, T)
        mixed = torch.einsum("ij,bje->bie", torch.from_numpy(weights).to(text), text)
        return F.normalize(mixed, dim=-1)  # (B, T, E)

    def full_table(self, table: torch.Tensor | None = None) -> torch.Tensor:
        """(V, D + E): each item's ``W t`` (`table`, else computed) and its unit text ``t``
        (the text path's side)."""
        table = self.items.table() if table is None else table  # (V, D)
        return torch.cat([table, self.items.text.to(table.dtype)], dim=1)

    def hidden_and_profiles(
        self, items: torch.Tensor, table: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) → the hidden state (B, T, D) and the unit profile p (B, T, E) at every
        position (`table`: the (V, D) item table to read the inputs from, else computed)."""
        table = self.items.table() if table is None else table  # (V, D)
        with self.items.fixed(table):
            hidden = self(items)  # (B, T, D)
        return hidden, self.profiles(items)

    def queries(self, items: torch.Tensor, table: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) → (B, T, D + E): the hidden state and ``s · p`` at every position, so that
        ``queries @ full_table().T`` are the scores of every item (`table`: the (V, D) item
        table to read the inputs from, else computed)."""
        hidden, profiles = self.hidden_and_profiles(items, table)  # (B, T, D), (B, T, E)
        text = self.text_scale * profiles  # (B, T, E)
        return torch.cat([hidden, text.to(hidden.dtype)], dim=2)


def shared_state(net: SASRecNet) -> dict[str, torch.Tensor]:
    """The catalog-independent part of `net`'s weights (everything but the item table's
    per-item rows and buffers; ``text_scale`` included)."""
    per_item = ("item_emb.weight", "item_emb.text", "item_emb.seen", "item_emb.borrowed")
    return {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()
            if k not in per_item}  # fmt: skip


def save_pretrained(model: Transfer, folder: Path, about: dict[str, Any]) -> Path:
    """Write `model`'s shared state and architecture to `folder` (`about`: provenance)."""
    folder.mkdir(parents=True, exist_ok=True)
    save_file(shared_state(model._net), str(folder / _WEIGHTS))
    arch = {k: getattr(model.config, k) for k in ARCHITECTURE}
    text = json.dumps({"architecture": arch, **about}, indent=2, default=str)
    (folder / _CONFIG).write_text(text + "\n")
    return folder


def read_pretrained(spec: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(architecture, shared state) of ``"builtin"`` or a folder; ModelError naming the fix."""
    folder = BUILTIN if spec == "builtin" else Path(spec)
    config, weights = folder / _CONFIG, folder / _WEIGHTS
    if not (config.is_file() and weights.is_file()):
        raise ModelError(
            f"transfer: no pretrained weights in {folder} ({_CONFIG} and {_WEIGHTS}); write "
            "them with `python benchmarks/transfer.py --pretrain`, or set pretrained=null"
        )
    try:
        arch = json.loads(config.read_text())["architecture"]
        return dict(arch), load_file(str(weights))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"transfer: {folder} is not a pretrained folder ({exc})") from exc


class Transfer(Hybrid):
    """Text-only SASRec, zero-shot or fine-tuned from pretrained shared weights."""

    name: ClassVar[str] = "transfer"
    config_class: ClassVar[type[BaseModel]] = TransferConfig
    config: TransferConfig
    net_class: ClassVar[type[HybridNet]] = TransferNet

    @property
    def needs_events(self) -> bool:
        """Zero-shot from pretrained weights needs only the catalog."""
        return self.config.fine_tune or self.config.pretrained is None

    def _fit(self, data: Dataset, rng: np.random.Generator, valid: Any) -> None:
        cfg = self.config
        shared: dict[str, torch.Tensor] | None = None
        if cfg.pretrained is not None:
            arch, shared = read_pretrained(cfg.pretrained)
            updated = self._validate_config({**cfg.model_dump(), **arch})
            assert isinstance(updated, TransferConfig)
            self.config = cfg = updated
        encoder = self.encoder or make_encoder(cfg.encoder, cfg.encoder_cache)
        self.text_ = item_vectors(data, encoder, progress=cfg.progress)
        self.seen_ = data.item_counts > 0
        self.seen_[0] = False
        start = None if shared is None else partial(_load_shared, shared=shared)
        if start is not None and not cfg.fine_tune:
            self._zero_shot(data, start)
            return
        started = self.clock()
        SASRec.train_on(self, data, as_seed(rng), valid, started=started, start_from=start)

    def _net_options(self) -> dict[str, Any]:
        cfg = self.config
        profile = {"profile_history": cfg.profile_history, "profile_decay": cfg.profile_decay}
        return {**super()._net_options(), "text_scale": cfg.text_scale, **profile}

    @property
    def _transfer_net(self) -> TransferNet:
        net = self._net
        assert isinstance(net, TransferNet)
        return net

    def _loss(self, net: torch.nn.Module, batch: Batch | EventBatch) -> torch.Tensor:
        """Cross-entropy of the next item's score ``h · W t + s · cos(p, t)`` over the seen
        items, those already in the input (up to the position) banned from the competitors.
        The text path goes to the loss as a :class:`TextPath`: its E columns need one forward
        product and the scalar s's gradient, not the (D + E)-wide products of the scores."""
        core = distributed.unwrap(net)  # `net` is the DDP wrapper under torchrun
        assert isinstance(core, TransferNet) and not isinstance(batch, EventBatch)
        if self.config.loss == "sampled":
            return self._sampled_loss(core, batch)
        items, positions, targets = batch
        table = core.items.table()  # (V, D): one projection per step
        hidden, profiles = core.hidden_and_profiles(items, table)  # (B, T, D), (B, T, E)
        hidden, profiles = hidden.flatten(0, 1)[positions], profiles.flatten(0, 1)[positions]
        seen, where = core.items.candidates()  # (S,), (V,)
        text = TextPath(profiles, core.items.text[seen], core.text_scale)  # (N, E), (S, E)
        banned = where[input_items(items)].flatten(0, 1)[positions]  # (N, T)
        return linear_cross_entropy(hidden, table[seen], where[targets], banned=banned, text=text)

    def _sampled_loss(self, core: TransferNet, batch: Batch) -> torch.Tensor:
        """The sampled loss over item indices (the negatives: seen items), reading only the
        rows it needs: the inputs' projected text for the forward pass, then the targets' and
        negatives' (drawn after it, as ever), and no copy of the seen items' rows."""
        items, positions, targets = batch
        inputs = core.items.rows_table(items)  # (V, D): the inputs' rows only
        hidden, profiles = core.hidden_and_profiles(items, inputs)  # (B, T, D), (B, T, E)
        hidden, profiles = hidden.flatten(0, 1)[positions], profiles.flatten(0, 1)[positions]
        seen = core.items.candidates()[0]  # (S,)
        count = min(self.config.num_negatives, len(seen))
        drawn = torch.randperm(len(seen))[:count].sort().values  # (M,) distinct, sorted
        negatives = seen[drawn.to(seen.device)].to(targets.device)  # (M,) item indices
        table = core.items.rows_table(torch.cat([targets, negatives]))  # (V, D)
        before = input_items(items).flatten(0, 1)[positions]  # (N, T); padding 0 is no negative
        text = TextPath(profiles, core.items.text, core.text_scale)  # (N, E), (V, E)
        return sampled_cross_entropy(hidden, table, targets, negatives, banned=before, text=text)

    def _score_batch(self, histories: Sequence[np.ndarray]) -> torch.Tensor:
        """Float32 scores (B, V) from the last `max_len` items of each history, text path
        included; an empty history gets the training popularity."""
        net, prior = self._transfer_net, self.prior_
        assert prior is not None
        with scoring(net, self.config.num_threads):
            table = net.items.table()  # (V, D)
            queries, lengths = self._queries(histories, table)  # (B, D + E), (B,)
            scores = (queries @ net.full_table(table).t()).float().cpu()  # (B, V)
        scores[lengths == 0] = torch.from_numpy(prior)
        return scores

    def _queries(
        self, histories: Sequence[np.ndarray], table: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each history's query (B, D + E) at its last window position (zeros when empty),
        and the window lengths (B,); call in eval mode without autograd."""
        net = self._transfer_net
        windows = [np.asarray(h[-self.config.max_len :], dtype=np.int64) for h in histories]
        lengths = torch.tensor([len(w) for w in windows], dtype=torch.long)
        device = net.items.text.device  # the GPU while validating a CUDA training run
        items = padded(windows, max(1, int(lengths.max()))).to(device)  # (B, T)
        ends = (lengths - 1).clamp(min=0).to(device)
        queries = net.queries(items, table)[torch.arange(len(windows), device=device), ends]
        queries[lengths.to(device) == 0] = 0.0
        return queries, lengths

    def query_vectors(self, queries: Sequence[Query]) -> np.ndarray:
        """(B, D + E): the last hidden state and ``s · p``; ``score = query_vectors @
        item_matrix.T``; zeros for empty histories."""
        self.check_queries(queries)
        net = self._transfer_net
        width = net.items.embedding_dim + net.items.text.shape[1]
        out = np.zeros((len(queries), width), np.float32)
        with scoring(net, self.config.num_threads):
            table = net.items.table()  # (V, D)
            for start in range(0, len(queries), _SCORE_BATCH):
                part = [q.history for q in queries[start : start + _SCORE_BATCH]]
                rows = self._queries(part, table)[0].float().cpu().numpy()
                out[start : start + len(part)] = rows
        return out

    def item_matrix(self) -> np.ndarray:
        """(V, D + E): ``W t`` and ``t`` per item (see :meth:`query_vectors`)."""
        net = self._transfer_net
        with scoring(net, self.config.num_threads):
            return np.ascontiguousarray(net.full_table().float().cpu().numpy())

    def _flops(self, batch: Batch | EventBatch) -> float:
        """SASRec's estimate, plus the projection ``W t`` of the rows the step reads (every
        item for the softmax; the inputs', targets' and negatives' for the sampled loss),
        forward and weight gradient (the text is a constant), plus the text path in the loss:
        one forward product of the profiles with the outputs' text (``2 · E`` per output) and
        an elementwise pass (s times it added to the logits, and the products summed against
        the logits' gradient for s's gradient: 4 per output)."""
        text_dim = self.text_.shape[1] if self.text_ is not None else 0
        cfg, items, n = self.config, batch[0], len(batch[1])
        sampled, v = cfg.loss == "sampled", self.n_items + 1
        outputs = cfg.num_negatives + 1 if sampled else v
        rows = min(v, items.numel()) + min(v, n + cfg.num_negatives) if sampled else v
        projection = 2 * 2.0 * rows * text_dim * cfg.embedding_size
        return SASRec._flops(self, batch) + projection + n * outputs * (2.0 * text_dim + 4.0)

    def _zero_shot(self, data: Dataset, start: Callable[[SASRecNet], None]) -> None:
        """The network over `data`'s catalog with the pretrained shared state, untrained
        (`data`'s events give only the popularity prior for empty histories)."""
        self.items_ = data.items
        self.prior_ = popularity_prior(data.item_counts)
        self.repurchase_ = data.repurchase_rates()
        self.net_ = self._new_net(data.n_items)
        start(self.net_)
        self.net_.eval()
        self.history_ = []


def _load_shared(net: SASRecNet, shared: dict[str, torch.Tensor]) -> None:
    """Fill `net`'s catalog-independent weights; ModelError when the shapes disagree.
    Weights without ``text_scale`` (written before the text path) keep the net's own."""
    own = shared_state(net)
    if "text_scale" not in shared:
        own.pop("text_scale", None)
    if set(own) != set(shared) or any(own[k].shape != shared[k].shape for k in own):
        raise ModelError(
            "transfer: the pretrained weights do not fit this network (different keys or "
            "shapes); keep the architecture settings of the pretrained folder"
        )
    net.load_state_dict(shared, strict=False)


def _default_scale(net: torch.nn.Module, state: dict[str, Any], prefix: str, *args: Any) -> None:
    """Load hook: weights saved before the text path existed keep the network's initial s."""
    assert isinstance(net, TransferNet)
    state.setdefault(prefix + "text_scale", net.text_scale.detach().clone())


def input_items(items: torch.Tensor) -> torch.Tensor:
    """Per position, the input items up to it: (B, T) → (B, T, T), row t holding
    ``items[:, :t + 1]`` and padding (0) after (what the position's history is)."""
    t = items.shape[1]
    upto = torch.ones(t, t, dtype=torch.bool, device=items.device).tril_()  # (T, T)
    return torch.where(upto, items[:, None, :], 0)  # (B, T, T)
