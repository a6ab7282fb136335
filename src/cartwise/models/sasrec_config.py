"""Settings of the SASRec family (:class:`~cartwise.models.sasrec.SASRec` and the hybrid)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cartwise.errors import ConfigError
from cartwise.training.budget import parse_duration


class SASRecConfig(BaseModel):
    """Settings of :class:`SASRec`.

    With `autoconfig` on (the default), the settings marked *derived* below that are not given
    explicitly are derived from the training data and the time budget when the model is fitted
    (:mod:`cartwise.models.sasrec_auto`); the fitted model's config holds the values used.

    Attributes:
        autoconfig: derive the settings not given from the data and the time budget; off, every
            setting not given takes the default written here.
        max_len: most recent items the model reads (training windows and scoring); derived.
        full_history: also train on the items before the last `max_len` of long sequences.
        embedding_size: D, the item / position / hidden size.
        num_blocks: Transformer blocks.
        num_heads: attention heads (must divide `embedding_size`).
        ffn_size: feed-forward width (default: `embedding_size`, as in SASRec).
        dropout: dropout on embeddings and residual branches; derived.
        fused_attention: torch's fused attention kernel instead of the explicit (on CPU faster
            at these lengths) softmax(QKᵀ/√d)V; the results are the same.
        scale_embeddings: multiply input item embeddings by √D (original SASRec).
        attention_dropout: dropout on the attention probabilities.
        activation: feed-forward non-linearity.
        learning_rate: AdamW peak learning rate.
        weight_decay: AdamW decoupled weight decay on matrices.
        batch_size: sequences per training batch.
        epochs: maximum epochs (the learning-rate schedule spans all of them, or with a time
            budget the ones that fit in it).
        patience: epochs without a better validation NDCG@10 before stopping (None: never).
        loss: "softmax" (cross-entropy over every item) or "sampled" (`num_negatives` uniform
            negatives shared by a batch; for catalogs where the full softmax is too slow); derived.
        num_negatives: negatives per batch for the sampled loss; derived with the loss.
        sparse_items: train the item table with row-sparse gradients and
            :class:`~cartwise.training.rowadam.RowAdamW` (only the rows a batch touches are
            updated, lazily); None: on with the sampled loss above
            :data:`~cartwise.models.sasrec.SPARSE_ABOVE` items. Never under torchrun (DDP
            all-reduces dense gradients); without the sampled loss it has no effect.
        warmup: fraction of all steps with a linear learning-rate warmup.
        schedule: decay after warmup.
        grad_clip: max global gradient norm (None: no clipping).
        bf16: bfloat16 autocast for training (master weights stay float32); scoring is float32.
        num_threads: torch threads (default: every core this process may run on; scoring
            keeps a lower count the calling thread set, as the service's scoring thread).
        checkpoint_dir: where the training loop keeps ``best`` and ``last`` (None: nowhere).
        resume: continue from ``checkpoint_dir/last`` if present.
        progress: show a progress bar while training.
        time_budget: wall seconds the fit may take (``"20m"``, ``"90s"``, ``"1.5h"`` are read
            too): the loop plans the epochs that fit after the first one, spans the schedule
            over them and stops before the budget runs out. None: no budget, or with
            `autoconfig` the default of :data:`cartwise.models.sasrec_auto.DEFAULT_TIME_BUDGET`;
            derived.
        device: ``"auto"`` trains on this process's GPU when CUDA is available (bf16
            autocast there too), else the CPU; ``"cpu"`` / ``"cuda"`` force one. The fitted
            model always scores on the CPU.
        event_aware: each position reads the item, the event kind and the time since the
            previous event (bucketed), and trains on every kind a shopper does with an item
            (``Dataset.from_store(kinds="behaviour")``); off: the id-only SASRec, unchanged.
        target_kinds: event-aware: the kinds whose items are prediction targets (None: all).
        kind_weights: event-aware: loss weight of a target by its kind (others weigh 1).
        time_gaps: event-aware: read the bucketed time since the previous event.
        repeat_targets: event-aware: also train on next items already in the window (a view
            followed by an add-to-cart of the same item); off trains on new items only.
        relations: event-aware: score the links the catalog declares between the last event's
            item and every candidate (an accessory naming the product it fits, an attribute
            value shared across categories), with a weight per event kind and attribute
            learnt in training (:mod:`cartwise.models.sasrec_relations`); no effect on a
            catalog without such attributes. On the demo store's after-purchase validation
            shoppers: compatible_share@10 0.40 → 0.71, HR@10 0.49 → 0.70.
    """

    model_config = ConfigDict(extra="forbid")

    autoconfig: bool = True
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
    sparse_items: bool | None = None
    warmup: float = Field(default=0.05, ge=0.0, lt=1.0)
    schedule: Literal["constant", "cosine", "linear"] = "cosine"
    grad_clip: float | None = Field(default=1.0, gt=0.0)
    bf16: bool = True
    num_threads: int | None = Field(default=None, ge=1)
    checkpoint_dir: Path | None = None
    resume: bool = False
    progress: bool = False
    time_budget: float | None = Field(default=None, gt=0.0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    event_aware: bool = False
    target_kinds: list[str] | None = None
    kind_weights: dict[str, float] = Field(default_factory=lambda: {"purchase": 2.0})
    time_gaps: bool = True
    repeat_targets: bool = True
    relations: bool = True

    @field_validator("time_budget", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str | int | float):
            try:
                return parse_duration(value)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _weights_non_negative(self) -> SASRecConfig:
        bad = {k: w for k, w in self.kind_weights.items() if not w >= 0}
        if bad:
            raise ValueError(f"kind_weights must be ≥ 0, got {bad}")
        return self

    @model_validator(mode="after")
    def _heads_divide(self) -> SASRecConfig:
        if self.embedding_size % self.num_heads:
            raise ValueError(
                f"num_heads ({self.num_heads}) must divide embedding_size ({self.embedding_size})"
            )
        return self
