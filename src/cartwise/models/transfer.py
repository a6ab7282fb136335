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

The architecture (``embedding_size``, ``num_blocks``, ``num_heads``, ``ffn_size``, ``max_len``,
``encoder``) is read from the pretrained folder, so a config cannot ask for a network the
weights do not fit. The training softmax and the cold-item handling are the hybrid's
(:class:`~cartwise.models.hybrid.Hybrid`): items with training events are the candidates.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, Field
from safetensors.torch import load_file, save_file

from cartwise.data.dataset import Dataset
from cartwise.errors import ModelError
from cartwise.models.base import as_seed
from cartwise.models.histories import popularity_prior
from cartwise.models.hybrid import Hybrid, HybridConfig, HybridNet, TextItemEmbedding
from cartwise.models.sasrec import SASRec
from cartwise.models.sasrec_net import SASRecNet
from cartwise.models.text import item_vectors, make_encoder

#: The pretrained weights shipped with the package.
BUILTIN = Path(__file__).resolve().parent / "pretrained" / "transfer-minilm"
#: Settings a pretrained folder fixes (the network's shape and the text encoder).
ARCHITECTURE = ("embedding_size", "num_blocks", "num_heads", "ffn_size", "max_len", "encoder")
_WEIGHTS, _CONFIG = "shared.safetensors", "config.json"


class TransferConfig(HybridConfig):
    """The hybrid's settings (its id-side settings unused) plus where the weights start.

    Attributes:
        pretrained: ``"builtin"`` (the shipped weights), a folder written by
            :func:`save_pretrained`, or None (train from scratch).
        fine_tune: train on the shop's events from the pretrained weights (False: zero-shot).
    """

    pretrained: str | None = "builtin"
    fine_tune: bool = True
    max_len: int = Field(default=50, ge=1)
    cold_neighbours: int = Field(default=0, ge=0)


class TextOnlyEmbedding(TextItemEmbedding):
    """Item table ``W t``: no id embedding, nothing borrowed (every item is text only)."""

    def table(self) -> torch.Tensor:
        if self._fixed is not None:
            return self._fixed
        table: torch.Tensor = self.proj(self.text)  # (V, D)
        return table

    def borrow(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to borrow: no item has an id embedding."""


class TransferNet(HybridNet):
    """HybridNet with a :class:`TextOnlyEmbedding` item table."""

    def __init__(self, text: torch.Tensor, seen: torch.Tensor, *args: Any, **options: Any):
        super().__init__(text, seen, *args, **options)
        dim = self.item_emb.embedding_dim
        self.item_emb = TextOnlyEmbedding(text, seen, dim, id_dropout=0.0)


def shared_state(net: SASRecNet) -> dict[str, torch.Tensor]:
    """The catalog-independent part of `net`'s weights (everything but the item table's
    per-item rows and buffers)."""
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
    """Fill `net`'s catalog-independent weights; ModelError when the shapes disagree."""
    own = shared_state(net)
    if set(own) != set(shared) or any(own[k].shape != shared[k].shape for k in own):
        raise ModelError(
            "transfer: the pretrained weights do not fit this network (different keys or "
            "shapes); keep the architecture settings of the pretrained folder"
        )
    net.load_state_dict(shared, strict=False)
