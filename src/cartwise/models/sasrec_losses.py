"""The losses of the SASRec family: full and sampled softmax cross-entropy, chunked.

Both compute the loss *and* both gradients in the forward pass, a cache-sized chunk of rows at a
time, without ever materialising all (N, V) logits: measured on the 2-core AVX-512 machine, the
full softmax this way is 4× faster than ``F.cross_entropy`` on the logits, and the sampled one
(4,096 negatives, 8,192 rows, one thread, CPU seconds) took 0.83 s through ``F.cross_entropy``
on float32 logits against about 0.25 s chunked (see benchmarks/results/training-speed-ml-1m.md).
The chunks are computed in the training loop's precision: bfloat16 under autocast, else the
hidden states' dtype (the loop turns autocast off on a CPU without native bf16, which emulates
it about 10x slower than float32).

Both take an optional constant *text path* (:class:`TextPath`): logits
``h Wᵀ + s · (p tᵀ)`` whose second term has constant factors (a profile p per row, a text
vector t per table row) and one trainable scalar s. Its only gradient is the scalar's, so the
E text columns cost one forward product and an elementwise pass per chunk instead of three
(D + E)-wide products with a concatenated table.

Shapes: N = rows (positions with a target), D = embedding size, V = table rows (items + 1),
M = sampled negatives, C = rows of a chunk, E = text dimension.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

_CHUNK_BYTES = 16 << 20  # softmax chunk: cache-sized, but ≥ _MIN_CHUNK rows (measured)
_MIN_CHUNK = 256  # the (V, D) gradient is accumulated once per chunk: few, large chunks


def _compute_dtype(hidden: torch.Tensor) -> torch.dtype:
    """bfloat16 when the caller trains under bf16 autocast, else the dtype of `hidden`."""
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return hidden.dtype


@dataclass(frozen=True)
class TextPath:
    """A constant additive term ``scale · (profiles @ text.T)`` of a loss's logits.

    Attributes:
        profiles: (N, E) one vector per row of `hidden` (constant: no gradient).
        text: (V, E) one vector per row of the loss's `table` (constant: no gradient).
        scale: 0-d tensor s (e.g. a Parameter); its gradient is ``Σ G ∘ (profiles @ text.T)``,
            G = ∂loss/∂logits.
    """

    profiles: torch.Tensor
    text: torch.Tensor
    scale: torch.Tensor

    def args(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(profiles, text, scale): the autograd Functions' trailing inputs."""
        return self.profiles, self.text, self.scale


_NO_TEXT: tuple[None, None, None] = (None, None, None)


class _Text:
    """A :class:`TextPath` inside a loss's forward pass: its factors in the compute dtype,
    its share of each chunk's logits, and the scale's gradient accumulated in float32."""

    def __init__(
        self, profiles: torch.Tensor, text: torch.Tensor, scale: torch.Tensor,
        dtype: torch.dtype, positives: torch.Tensor | None = None,
    ) -> None:  # fmt: skip
        self.profiles = profiles.detach().to(dtype)  # (N, E)
        self.text = text.detach().to(dtype)  # (V, E); the sampled loss's negatives: (M, E)
        self.positives = None if positives is None else positives.detach().float()  # (N, E)
        self.scale = float(scale.detach())  # one host read per loss, not per chunk
        self.grad = torch.zeros((), dtype=torch.float32, device=profiles.device)

    def logits(
        self, rows: slice, hc: torch.Tensor, w: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``hc @ w.T + s · (p_rows @ text.T)`` (C, V) and the text product (C, V)."""
        products = self.profiles[rows] @ self.text.t()  # (C, V)
        return torch.addmm(products, hc, w.t(), beta=self.scale), products

    def rowwise(self, rows: slice) -> torch.Tensor:
        """``p_n · positives_n`` of the rows (C, 1), in float32 (the sampled loss's targets)."""
        assert self.positives is not None
        return (self.profiles[rows].float() * self.positives[rows]).sum(1, keepdim=True)

    def add(self, grad_logits: torch.Tensor, products: torch.Tensor) -> None:
        """Accumulate ``Σ G ∘ products`` into the scale's gradient (G: ∂loss/∂logits)."""
        same = grad_logits.dtype == products.dtype == torch.float32
        if same and grad_logits.is_contiguous() and products.is_contiguous():
            self.grad += torch.dot(grad_logits.reshape(-1), products.reshape(-1))
        else:  # bfloat16 under autocast, or a view: the products summed in float32
            self.grad += (grad_logits * products).sum(dtype=torch.float32)


def _text_of(
    profiles: torch.Tensor | None, text: torch.Tensor | None, scale: torch.Tensor | None,
    dtype: torch.dtype, columns: torch.Tensor | None = None, targets: torch.Tensor | None = None,
) -> _Text | None:  # fmt: skip
    """The forward pass's :class:`_Text` (with `columns`: over those rows of `text` only, and
    the `targets`' rows as the positives), or None without a text path."""
    if profiles is None or text is None or scale is None:
        return None
    if columns is None:
        return _Text(profiles, text, scale, dtype)
    text = text.detach()
    return _Text(profiles, text[columns], scale, dtype, None if targets is None else text[targets])


def _scale_grad(extra: _Text | None, scale: torch.Tensor | None) -> torch.Tensor | None:
    """The text path's accumulated scale gradient in `scale`'s dtype and shape (None: none)."""
    if extra is None or scale is None:
        return None
    return extra.grad.to(scale.dtype).reshape(scale.shape)


def _chunk_rows(hidden: torch.Tensor, columns: int) -> int:
    """Rows per chunk so a (rows, columns) block of logits stays cache-sized."""
    size = torch.finfo(_compute_dtype(hidden)).bits // 8
    return max(_MIN_CHUNK, _CHUNK_BYTES // (size * columns))


class _LinearCrossEntropy(torch.autograd.Function):
    """mean_n −log softmax(h_n Wᵀ)[y_n], with both gradients computed in the forward pass."""

    @staticmethod
    def forward(
        ctx: Any, hidden: torch.Tensor, table: torch.Tensor, targets: torch.Tensor, chunk: int,
        weights: torch.Tensor | None = None, banned: torch.Tensor | None = None,
        profiles: torch.Tensor | None = None, text: torch.Tensor | None = None,
        scale: torch.Tensor | None = None,
    ) -> torch.Tensor:  # fmt: skip
        n, dtype = hidden.shape[0], _compute_dtype(hidden)
        h = hidden.detach().to(dtype)  # (N, D)
        w = table.detach().to(dtype)  # (V, D)
        extra = _text_of(profiles, text, scale, dtype)
        grad_h = torch.empty(h.shape, dtype=dtype, device=h.device)  # (N, D)
        grad_w = torch.zeros(w.shape, dtype=torch.float32, device=w.device)  # (V, D)
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        for start in range(0, n, chunk):
            hc, yc = h[start : start + chunk], targets[start : start + chunk]  # (C, D), (C,)
            rows = torch.arange(len(yc), device=h.device)
            if extra is None:
                logits = hc @ w.t()  # (C, V)
            else:
                logits, products = extra.logits(slice(start, start + chunk), hc, w)
            if banned is not None:
                _ban(logits, banned[start : start + chunk], yc, None)
            p = torch.softmax(logits, dim=1)  # (C, V)
            p_target = p[rows, yc]  # (C,)
            log_p = p_target.float().clamp_min(1e-30).log()  # (C,)
            p[rows, yc] = p_target - 1  # ∂loss/∂logits = softmax − one-hot
            if weights is None:
                total -= log_p.sum()
            else:  # row n's loss and gradients count w_n times
                wc = weights[start : start + chunk]  # (C,)
                total -= (wc * log_p).sum()
                p *= wc[:, None].to(p.dtype)
            if extra is not None:
                extra.add(p, products)
            torch.mm(p, w, out=grad_h[start : start + chunk])  # (C, D)
            grad_w += (p.t() @ hc).float()  # (V, D)
        ctx.save_for_backward(grad_h, grad_w)
        ctx.hidden_dtype, ctx.grad_scale = hidden.dtype, _scale_grad(extra, scale)
        denominator = max(n, 1) if weights is None else max(float(weights.sum()), 1e-12)
        ctx.denominator = denominator
        return total / denominator

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
        grad_h, grad_w = ctx.saved_tensors
        scale = grad_out / ctx.denominator
        grad_s = None if ctx.grad_scale is None else ctx.grad_scale * scale
        grads = (grad_h.to(ctx.hidden_dtype) * scale, grad_w * scale, None, None, None, None)
        return (*grads, None, None, grad_s)


def _ban(
    logits: torch.Tensor, banned: torch.Tensor, targets: torch.Tensor, columns: torch.Tensor | None
) -> None:
    """Set ``logits[r, c]`` to -inf in place where column c's table row is one of row r's
    `banned` rows (C, K; -1: none) other than its own target (C,). `columns`: the distinct
    table row of each column, sorted ascending (the sampled loss's negatives), or None when
    column c is table row c."""
    keep = (banned >= 0) & (banned != targets[:, None])  # (C, K)
    if columns is None:
        cols = banned
    else:
        cols = torch.searchsorted(columns, banned).clamp_(max=len(columns) - 1)  # (C, K)
        keep &= columns[cols] == banned
    rows = torch.arange(len(banned), device=banned.device)[:, None].expand_as(banned)  # (C, K)
    logits[rows[keep], cols[keep]] = float("-inf")


def linear_cross_entropy(
    hidden: torch.Tensor,
    table: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor | None = None,
    banned: torch.Tensor | None = None,
    *,
    text: TextPath | None = None,
) -> torch.Tensor:
    """Full-softmax cross-entropy of ``hidden @ table.T`` (plus the text path's
    ``s · profiles @ text.T``) against `targets`, mean over rows (with `weights`:
    ``Σ w_n ℓ_n / Σ w_n``).

    Equals ``F.cross_entropy(hidden @ table.T, targets)`` up to rounding (bfloat16 under
    autocast), at a fraction of the memory traffic: the (N, V) logits are formed, normalised and
    turned into gradients a cache-sized chunk at a time.

    Args:
        hidden: (N, D) hidden states.
        table: (V, D) output embeddings (the tied item table).
        targets: (N,) target rows of `table`.
        weights: (N,) non-negative weight of each row (None: all 1).
        banned: (N, K) rows of `table` that are no competitor of row n's target (-1: none),
            e.g. the items already in the input: their logits are -inf (None: no ban).
        text: a constant text path (profiles (N, E), text (V, E) row by row of `table`,
            scale s): gradients flow to `hidden`, `table` and s only (None: none).
    """
    chunk = _chunk_rows(hidden, table.shape[0])
    apply = _LinearCrossEntropy.apply
    extra = _NO_TEXT if text is None else text.args()
    out: torch.Tensor = apply(hidden, table, targets, chunk, weights, banned, *extra)  # type: ignore[no-untyped-call]
    return out


class _SampledCrossEntropy(torch.autograd.Function):
    """mean_n −log softmax([h_n·w_{y_n}, h_n W_negᵀ])[0]: each row's target against negatives
    shared by the batch (a negative equal to the row's own target is masked out), with both
    gradients computed in the forward pass, chunk by chunk in the training precision."""

    @staticmethod
    def forward(
        ctx: Any, hidden: torch.Tensor, table: torch.Tensor, targets: torch.Tensor,
        negatives: torch.Tensor, chunk: int, weights: torch.Tensor | None = None,
        banned: torch.Tensor | None = None, sparse: bool = False,
        profiles: torch.Tensor | None = None, text: torch.Tensor | None = None,
        scale: torch.Tensor | None = None,
    ) -> torch.Tensor:  # fmt: skip
        n, dtype = hidden.shape[0], _compute_dtype(hidden)
        h = hidden.detach().to(dtype)  # (N, D)
        w_neg = table.detach()[negatives].to(dtype)  # (M, D)
        w_pos = table.detach()[targets].to(dtype)  # (N, D)
        extra = _text_of(profiles, text, scale, dtype, negatives, targets)
        grad_h = torch.empty_like(h)  # (N, D)
        grad_pos = torch.empty_like(h)  # (N, D): ∂/∂w_{y_n}, row by row
        grad_neg = torch.zeros(w_neg.shape, dtype=torch.float32, device=h.device)  # (M, D)
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        for start in range(0, n, chunk):
            rows = slice(start, start + chunk)
            hc, yc, wc = h[rows], targets[rows], w_pos[rows]  # (C, D), (C,), (C, D)
            pos = (hc.float() * wc.float()).sum(1, keepdim=True)  # (C, 1)
            if extra is None:
                neg = hc @ w_neg.t()  # (C, M)
            else:  # text products: (C, M), (C, 1)
                (neg, products), pos_products = extra.logits(rows, hc, w_neg), extra.rowwise(rows)
                pos += extra.scale * pos_products
            neg.masked_fill_(negatives[None, :] == yc[:, None], float("-inf"))
            if banned is not None:
                _ban(neg, banned[rows], yc, negatives)
            p = torch.softmax(torch.cat([pos.to(neg.dtype), neg], dim=1), dim=1)  # (C, 1 + M)
            log_p = p[:, 0].float().clamp_min(1e-30).log()  # (C,)
            d_pos, p_neg = p[:, :1] - 1, p[:, 1:]  # ∂loss/∂logits: (C, 1), (C, M)
            if weights is None:
                total -= log_p.sum()
            else:  # row n's loss and gradients count w_n times
                wr = weights[rows]  # (C,)
                total -= (wr * log_p).sum()
                d_pos, p_neg = d_pos * wr[:, None].to(p.dtype), p_neg * wr[:, None].to(p.dtype)
            if extra is not None:
                extra.add(p_neg, products)
                extra.add(d_pos.float(), pos_products)
            grad_h[rows] = p_neg @ w_neg + d_pos * wc  # (C, D)
            grad_pos[rows] = d_pos * hc  # (C, D)
            grad_neg += (p_neg.t() @ hc).float()  # (M, D)
        ctx.save_for_backward(grad_h, grad_pos, grad_neg, targets, negatives)
        ctx.hidden_dtype, ctx.table_shape, ctx.sparse = hidden.dtype, table.shape, sparse
        ctx.grad_scale = _scale_grad(extra, scale)
        denominator = max(n, 1) if weights is None else max(float(weights.sum()), 1e-12)
        ctx.denominator = denominator
        loss: torch.Tensor = total / denominator
        return loss

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
        grad_h, grad_pos, grad_neg, targets, negatives = ctx.saved_tensors
        scale = grad_out / ctx.denominator
        grad_h = grad_h.to(ctx.hidden_dtype) * scale
        text = (None, None, None if ctx.grad_scale is None else ctx.grad_scale * scale)
        if ctx.sparse:  # only the touched rows: (M + N) rows, duplicates add up
            rows = torch.cat([negatives, targets])[None, :]  # (1, M + N)
            values = torch.cat([grad_neg, grad_pos.float()]) * scale  # (M + N, D)
            grad_table = torch.sparse_coo_tensor(
                rows, values, ctx.table_shape, check_invariants=False
            )  # (V, D)
            return (grad_h, grad_table, None, None, None, None, None, None, *text)
        grad_table = torch.zeros(ctx.table_shape, dtype=torch.float32, device=grad_h.device)
        grad_table.index_add_(0, negatives, grad_neg)  # (V, D)
        grad_table.index_add_(0, targets, grad_pos.float())
        return (grad_h, grad_table * scale, None, None, None, None, None, None, *text)


def sampled_cross_entropy(
    hidden: torch.Tensor,
    table: torch.Tensor,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    weights: torch.Tensor | None = None,
    banned: torch.Tensor | None = None,
    *,
    sparse: bool = False,
    text: TextPath | None = None,
) -> torch.Tensor:
    """Sampled-softmax cross-entropy: the target against negatives shared by the batch.

    Negatives are drawn uniformly, so no log-Q correction is needed; a negative that happens to
    be a row's own target is masked out of that row. Equals ``F.cross_entropy`` on the
    ``[h·w_y, h W_negᵀ]`` logits up to rounding (bfloat16 under autocast), chunk by chunk.

    Args:
        hidden: (N, D) hidden states.
        table: (V, D) output embeddings.
        targets: (N,) target rows of `table`.
        negatives: (M,) negative rows of `table`.
        weights: (N,) non-negative weight of each row (None: all 1; else ``Σ w_n ℓ_n / Σ w_n``).
        banned: (N, K) rows of `table` masked out of row n's negatives (-1: none; its own
            target never is); with a ban, `negatives` must be distinct and sorted ascending.
        sparse: the gradient of `table` is a sparse COO tensor of the touched rows (for a
            leaf table trained with :class:`~cartwise.training.rowadam.RowAdamW`).
        text: a constant text path (profiles (N, E), text (V, E) row by row of `table`, scale
            s) added to the target's and the negatives' logits: gradients flow to `hidden`,
            `table` and s only (None: none).
    """
    chunk = _chunk_rows(hidden, len(negatives) + 1)
    apply = _SampledCrossEntropy.apply
    extra = _NO_TEXT if text is None else text.args()
    args = (hidden, table, targets, negatives, chunk, weights, banned, sparse, *extra)
    out: torch.Tensor = apply(*args)  # type: ignore[no-untyped-call]
    return out
