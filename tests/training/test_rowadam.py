"""RowAdamW: torch's AdamW on the rows a sparse gradient touches, nothing on the others."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cartwise.models.sasrec_losses import sampled_cross_entropy
from cartwise.training.loop import TrainSettings, _optimizer, clip_gradients
from cartwise.training.rowadam import RowAdamW, has_sparse_parameters

ROWS = torch.tensor([1, 4, 6])


def _pair(decay: float) -> tuple[nn.Parameter, nn.Parameter, RowAdamW, torch.optim.AdamW]:
    torch.manual_seed(0)
    start = torch.randn(8, 3)
    ours, theirs = nn.Parameter(start.clone()), nn.Parameter(start.clone())
    row = RowAdamW([ours], lr=0.1, weight_decay=decay)
    dense = torch.optim.AdamW([theirs], lr=0.1, weight_decay=decay)
    return ours, theirs, row, dense


@pytest.mark.parametrize("decay", [0.0, 0.1])
def test_matches_adamw_on_touched_rows_and_leaves_the_others(decay: float) -> None:
    ours, theirs, row, dense = _pair(decay)
    untouched = torch.ones(8, dtype=torch.bool)
    untouched[ROWS] = False
    start = ours.detach().clone()
    for step in range(4):
        g = torch.randn(len(ROWS), 3) * (step + 1)
        ours.grad = torch.sparse_coo_tensor(ROWS[None, :], g, (8, 3))
        full = torch.zeros(8, 3)
        full[ROWS] = g
        theirs.grad = full
        row.step()
        dense.step()
        torch.testing.assert_close(ours[ROWS], theirs[ROWS], rtol=1e-6, atol=1e-7)
    assert torch.equal(ours.detach()[untouched], start[untouched])  # not decayed, not moved
    assert row.state[ours]["row_step"].tolist() == [0, 4, 0, 0, 4, 0, 4, 0]


def test_rows_keep_their_own_step_counts() -> None:
    """A row first touched at step 3 gets the bias correction of its own first step: after
    one step from zero moments Adam moves every coordinate by lr (times the gradient's sign)."""
    ours, _, row, _ = _pair(0.0)
    for rows in ([1], [1], [1, 5]):
        index = torch.tensor(rows)
        ours.grad = torch.sparse_coo_tensor(index[None, :], torch.ones(len(rows), 3), (8, 3))
        before = ours.detach().clone()
        row.step()
    moved = before - ours.detach()
    torch.testing.assert_close(moved[5], torch.full((3,), 0.1), rtol=1e-5, atol=1e-6)
    assert row.state[ours]["row_step"].tolist() == [0, 3, 0, 0, 0, 1, 0, 0]


def test_duplicate_rows_add_up_and_dense_gradients_are_adamw() -> None:
    ours, theirs, row, dense = _pair(0.05)
    g = torch.randn(4, 3)
    ours.grad = torch.sparse_coo_tensor(torch.tensor([[2, 2, 3, 2]]), g, (8, 3))
    full = torch.zeros(8, 3)
    full.index_add_(0, torch.tensor([2, 2, 3, 2]), g)
    theirs.grad = full
    row.step()
    dense.step()
    torch.testing.assert_close(ours[[2, 3]], theirs[[2, 3]], rtol=1e-6, atol=1e-7)
    bias, other = nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(3))
    row2, dense2 = RowAdamW([bias], lr=0.1), torch.optim.AdamW([other], lr=0.1)
    for _ in range(3):
        bias.grad = torch.tensor([1.0, -2.0, 0.5])
        other.grad = bias.grad.clone()
        row2.step()
        dense2.step()
    torch.testing.assert_close(bias, other, rtol=1e-6, atol=1e-7)


def test_sparse_sampled_loss_gradient_is_the_dense_one() -> None:
    torch.manual_seed(1)
    hidden = torch.randn(5, 4)
    targets, negatives = torch.tensor([1, 2, 2, 7, 3]), torch.tensor([3, 5, 9, 5])
    start, grads = torch.randn(10, 4), []
    for sparse in (False, True):
        table = nn.Parameter(start.clone())
        sampled_cross_entropy(hidden, table, targets, negatives, sparse=sparse).backward()
        assert table.grad is not None and table.grad.is_sparse == sparse
        grads.append(table.grad.to_dense() if sparse else table.grad)
    torch.testing.assert_close(grads[1], grads[0])


def test_clipping_counts_sparse_rows_once_coalesced() -> None:
    table, bias = nn.Parameter(torch.zeros(6, 2)), nn.Parameter(torch.zeros(2))
    table.grad = torch.sparse_coo_tensor(
        torch.tensor([[1, 1]]), torch.tensor([[3.0, 0.0], [0.0, 0.0]]), (6, 2)
    )  # row 1: (3, 0) in two pieces
    bias.grad = torch.tensor([0.0, 4.0])  # global norm 5
    clip_gradients([table, bias], 1.0)
    torch.testing.assert_close(
        table.grad.to_dense()[1], torch.tensor([0.6, 0.0]), atol=1e-6, rtol=0
    )
    torch.testing.assert_close(bias.grad, torch.tensor([0.0, 0.8]), atol=1e-6, rtol=0)


def test_the_loop_picks_rowadamw_for_a_sparse_table_only() -> None:
    settings = TrainSettings(epochs=1, learning_rate=0.01)
    sparse, dense = nn.Embedding(5, 2, sparse=True), nn.Embedding(5, 2)
    assert has_sparse_parameters(sparse) and not has_sparse_parameters(dense)
    assert isinstance(_optimizer(sparse, settings), RowAdamW)
    assert type(_optimizer(dense, settings)) is torch.optim.AdamW
