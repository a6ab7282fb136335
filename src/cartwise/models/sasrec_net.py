"""The SASRec network: a causal self-attention Transformer over item sequences, and its losses.

Written to be read, after nanoGPT. Sequences are *right*-padded with item 0: under a causal mask
a real position only ever attends to earlier real positions, so attention needs no padding mask
and padded positions are simply never read by the loss or the scorer. Positions count from the
start of the (at most ``max_len`` long, most recent) window.

Shapes: B = batch, T = sequence length, D = embedding size, H = heads, V = items + 1 (padding),
N = positions that carry a target.

Two CPU-specific choices, both measured on a 2-core AVX-512 machine (see benchmarks/sasrec_dev.py):
:func:`dropout` draws 15 random bits per element from 64-bit words (torch's ``bernoulli_`` costs
~10 ns per element and was 10% of a training step), and the losses
(:mod:`cartwise.models.sasrec_losses`, re-exported here) compute the softmax and its gradients
chunk by chunk in bfloat16 without ever materialising the (N, V) logits.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cartwise.models.sasrec_losses import linear_cross_entropy, sampled_cross_entropy
from cartwise.models.sasrec_relations import ItemRelations

__all__ = [
    "Block", "CausalSelfAttention", "FeedForward", "SASRecNet", "dropout",
    "linear_cross_entropy", "sampled_cross_entropy",
]  # fmt: skip


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout with a cheap mask (keep probability quantised to 1/32768)."""
    if not training or p <= 0.0:
        return x
    n = x.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_()
    bits = words.view(torch.int16)[:n].view(x.shape) & 0x7FFF  # 15 uniform bits per element
    mask = (bits >= round(p * 32768)).to(x.dtype) * (1.0 / (1.0 - p))
    return x * mask


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position t sees positions ≤ t."""

    def __init__(
        self, dim: int, heads: int, dropout: float, fused: bool = False, attn_dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.p = dropout
        self.p_attn = attn_dropout
        self.fused = fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape  # (B, T, D)
        q, k, v = self.qkv(x).split(d, dim=2)  # 3 × (B, T, D)
        q = q.view(b, t, self.heads, d // self.heads).transpose(1, 2)  # (B, H, T, D/H)
        k = k.view(b, t, self.heads, d // self.heads).transpose(1, 2)  # (B, H, T, D/H)
        v = v.view(b, t, self.heads, d // self.heads).transpose(1, 2)  # (B, H, T, D/H)
        if self.fused:  # one kernel, O(T) memory
            p_attn = self.p_attn if self.training else 0.0
            y = F.scaled_dot_product_attention(
                q, k, v, dropout_p=p_attn, is_causal=True
            )  # (B, H, T, D/H)
        else:  # the same softmax(QKᵀ/√(D/H)) V spelled out: faster on CPU for T ≤ a few hundred
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d // self.heads))  # (B, H, T, T)
            future = torch.ones(t, t, dtype=torch.bool, device=x.device).triu_(1)  # (T, T)
            att = torch.softmax(att.masked_fill(future, float("-inf")), dim=-1)  # (B, H, T, T)
            att = dropout(att, self.p_attn, self.training)  # (B, H, T, T)
            y = att.to(v.dtype) @ v  # (B, H, T, D/H)
        y = y.transpose(1, 2).reshape(b, t, d)  # (B, T, D)
        return dropout(self.proj(y), self.p, self.training)  # (B, T, D)

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """The attention probabilities softmax(QKᵀ/√(D/H)) under the causal mask, without
        dropout: (B, T, D) → (B, H, T, T), row t summing to 1 over positions ≤ t. For
        explanations; :meth:`forward` is unchanged."""
        b, t, d = x.shape  # (B, T, D)
        q, k, _ = self.qkv(x).split(d, dim=2)  # 2 × (B, T, D)
        q = q.view(b, t, self.heads, d // self.heads).transpose(1, 2)  # (B, H, T, D/H)
        k = k.view(b, t, self.heads, d // self.heads).transpose(1, 2)  # (B, H, T, D/H)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d // self.heads))  # (B, H, T, T)
        future = torch.ones(t, t, dtype=torch.bool, device=x.device).triu_(1)  # (T, T)
        return torch.softmax(att.masked_fill(future, float("-inf")), dim=-1)  # (B, H, T, T)


class FeedForward(nn.Module):
    """Position-wise two-layer MLP with GELU."""

    def __init__(self, dim: int, hidden: int, dropout: float, activation: str = "gelu") -> None:
        super().__init__()
        self.fc = nn.Linear(dim, hidden)
        self.proj = nn.Linear(hidden, dim)
        self.p = dropout
        self.act = F.relu if activation == "relu" else F.gelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(self.proj(self.act(self.fc(x))), self.p, self.training)  # (B, T, D)


class Block(nn.Module):
    """Pre-LayerNorm Transformer block: x + attn(ln(x)), then x + ffn(ln(x))."""

    def __init__(
        self, dim: int, heads: int, hidden: int, dropout: float, fused: bool = False,
        attn_dropout: float = 0.0, activation: str = "gelu",
    ) -> None:  # fmt: skip
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, dropout, fused, attn_dropout)
        self.ln2 = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, hidden, dropout, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))  # (B, T, D)
        out: torch.Tensor = x + self.ffn(self.ln2(x))  # (B, T, D)
        return out


class SASRecNet(nn.Module):
    """Item + position embeddings → causal blocks → final LayerNorm; logits via the tied table.

    Args:
        n_items: number of real items; the embedding table has ``n_items + 1`` rows (0 = padding).
        max_len: longest window the positional table covers.
        dim: embedding size D.
        blocks: number of Transformer blocks.
        heads: attention heads (must divide `dim`).
        hidden: feed-forward width.
        dropout: dropout on the embeddings and on every residual branch.
        fused_attention: use torch's fused ``scaled_dot_product_attention`` kernel instead of
            the explicit softmax(QKᵀ/√d)V (same result; the explicit form measured 10-30% faster
            per training step on CPU at T = 200, the fused one needs no T × T memory).
        scale_embeddings: multiply the input item embeddings by √D before adding positions
            (as the original SASRec does), so item identity outweighs position at the start.
        attention_dropout: dropout on the attention probabilities.
        activation: the feed-forward non-linearity, ``"gelu"`` or ``"relu"``.
        n_kinds: size of the event-kind table (codes 0..n_kinds - 1, 0 = unknown, a zero
            vector); 0 (the id-only model): no kind input.
        n_gaps: size of the time-gap bucket table (0 = padding); 0: no time input.
        sparse_items: the item table's lookups give row-sparse gradients (trained with
            :class:`~cartwise.training.rowadam.RowAdamW`; the sampled loss then returns a
            sparse gradient for the table too).
    """

    def __init__(
        self, n_items: int, max_len: int, dim: int, blocks: int, heads: int, hidden: int,
        dropout: float, fused_attention: bool = False, scale_embeddings: bool = False,
        attention_dropout: float = 0.0, activation: str = "gelu", n_kinds: int = 0,
        n_gaps: int = 0, sparse_items: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        self.max_len = max_len
        self.item_emb = nn.Embedding(n_items + 1, dim, padding_idx=0, sparse=sparse_items)
        self.pos_emb = nn.Embedding(max_len, dim)
        self.p = dropout
        self.input_scale = math.sqrt(dim) if scale_embeddings else 1.0
        self.blocks = nn.ModuleList(
            Block(dim, heads, hidden, dropout, fused_attention, attention_dropout, activation)
            for _ in range(blocks)
        )
        self.ln_f = nn.LayerNorm(dim)
        # created only when used: the id-only network's parameters (and their random
        # initialisation) stay exactly what they were before event kinds existed
        self.kind_emb = nn.Embedding(n_kinds, dim, padding_idx=0) if n_kinds else None
        self.gap_emb = nn.Embedding(n_gaps, dim, padding_idx=0) if n_gaps else None
        #: the catalog's links scored at the last event (event-aware, set by the model)
        self.relations: ItemRelations | None = None
        self.apply(_init_weights)
        for name, param in self.named_parameters():
            if name.endswith("proj.weight"):  # GPT-2: residual projections shrink with depth
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * blocks))

    def forward(
        self,
        items: torch.Tensor,
        kinds: torch.Tensor | None = None,
        gaps: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hidden states of right-padded item sequences: (B, T) → (B, T, D). With the kind
        and gap tables, each position also adds its event kind's and time gap's vectors."""
        pos = torch.arange(items.shape[1], device=items.device)  # (T,)
        x = self.item_emb(items)  # (B, T, D)
        if self.input_scale != 1.0:
            x = x * self.input_scale
        if kinds is not None and self.kind_emb is not None:
            x = x + self.kind_emb(kinds)  # (B, T, D)
        if gaps is not None and self.gap_emb is not None:
            x = x + self.gap_emb(gaps)  # (B, T, D)
        x = dropout(x + self.pos_emb(pos), self.p, self.training)  # (B, T, D)
        for block in self.blocks:
            x = block(x)  # (B, T, D)
        out: torch.Tensor = self.ln_f(x)  # (B, T, D)
        return out

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every item for hidden states: (N, D) → (N, V), tied to the item table."""
        out: torch.Tensor = hidden @ self.item_emb.weight.t()  # (N, V)
        return out

    def last_attention(
        self,
        items: torch.Tensor,
        kinds: torch.Tensor | None = None,
        gaps: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The last block's attention probabilities, averaged over heads: (B, T) → (B, T, T).

        Runs the usual forward pass, keeps the last block's attention input and recomputes the
        probabilities from it with the explicit softmax(QKᵀ/√d) (whichever kernel the forward
        pass used): the weights the hidden states were computed with, in eval mode.
        """
        block = self.blocks[-1]
        assert isinstance(block, Block)
        seen: list[torch.Tensor] = []

        def keep(_: nn.Module, args: tuple[Any, ...]) -> None:
            seen.append(args[0])

        handle = block.attn.register_forward_pre_hook(keep)
        try:
            self(items, kinds, gaps)  # (B, T, D)
        finally:
            handle.remove()
        return block.attn.weights(seen[0]).mean(dim=1)  # (B, T, T)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
