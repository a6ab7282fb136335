"""Transfer (text-only SASRec): contract, pretrained on one shop and zero-shot on another whose
words it never saw, fine-tuning, persistence, clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from contract import RecommenderContract
from safetensors.torch import load_file, save_file
from test_text_model import text_blocks

from cartwise.data.dataset import Dataset
from cartwise.errors import ModelError
from cartwise.models import sasrec_losses
from cartwise.models.base import Query
from cartwise.models.hybrid import Hybrid
from cartwise.models.popularity import Popularity
from cartwise.models.registry import create, load
from cartwise.models.sasrec_batches import SequenceBatches
from cartwise.models.sasrec_losses import TextPath
from cartwise.models.sasrec_net import linear_cross_entropy, sampled_cross_entropy
from cartwise.models.text import ContentModel, profile_weights
from cartwise.models.transfer import (
    BUILTIN,
    Transfer,
    TransferNet,
    input_items,
    read_pretrained,
    save_pretrained,
    shared_state,
)
from cartwise.models.vectors import dot_product

TINY: dict[str, Any] = {
    "max_len": 8, "embedding_size": 16, "num_blocks": 1, "epochs": 3, "batch_size": 16,
    "num_threads": 1, "encoder": "hashing-32", "pretrained": None,
}  # fmt: skip
PRETRAIN: dict[str, Any] = {
    "max_len": 6, "embedding_size": 32, "num_blocks": 1, "epochs": 25, "batch_size": 32,
    "learning_rate": 1e-2, "dropout": 0.0, "warmup": 0.0, "num_threads": 1, "patience": None,
    "encoder": "hashing-256", "pretrained": None,
}  # fmt: skip
SHOP_A = [f"zq{n}x" for n in range(60)]  # brand words of the pretraining shop
SHOP_B = [f"vk{n}m" for n in range(15)]  # the new shop's brands: words never seen in A


class TestTransferContract(RecommenderContract):
    model_class = Transfer
    config = TINY

    def make_data(self) -> Dataset:
        return text_blocks()


def phones_then_cases(brands: list[str], n_users: int, seed: int) -> Dataset:
    """Shoppers who buy a brand's phone, then that brand's case, then another brand's phone…:
    after "<brand> phone" comes "<brand> case", whatever the brand is called."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        for brand in rng.choice(brands, size=3, replace=False):
            rows += [(f"u{u}", f"{brand}-phone"), (f"u{u}", f"{brand}-case")]
    titles = [(f"{b}-{kind}", f"{b} {kind}") for b in brands for kind in ("phone", "case")]
    catalog = pd.DataFrame(titles, columns=["item_id", "title"])
    return Dataset.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]), catalog)


def hits_at(model: Any, data: Dataset, brands: list[str], k: int) -> float:
    """Share of brands whose case is in the top `k` right after their phone."""
    vocab = data.items
    hits = 0
    for brand in brands:
        phone, case = vocab.index(f"{brand}-phone"), vocab.index(f"{brand}-case")
        top = [s.item for s in model.recommend(Query.of([phone]), k=k)]
        hits += case in top
    return hits / len(brands)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = Transfer(PRETRAIN).fit(phones_then_cases(SHOP_A, 300, seed=0), rng=0)
    return save_pretrained(model, tmp_path_factory.mktemp("pre") / "w", {"datasets": ["A"]})


def test_zero_shot_on_a_new_shop_follows_the_pattern_popularity_cannot(pretrained: Path) -> None:
    shop = phones_then_cases(SHOP_B, 40, seed=1)
    zero = Transfer({"pretrained": str(pretrained), "fine_tune": False}).fit(shop, rng=0)
    popular = Popularity().fit(shop)
    assert hits_at(zero, shop, SHOP_B, k=3) >= 0.8  # chance: about 0.1
    assert hits_at(popular, shop, SHOP_B, k=3) <= 0.2


def test_zero_shot_takes_no_gradient_step_and_the_architecture_of_the_weights(
    pretrained: Path,
) -> None:
    shop = phones_then_cases(SHOP_B, 40, seed=1)
    zero = Transfer({"pretrained": str(pretrained), "fine_tune": False, "embedding_size": 8})
    zero.fit(shop, rng=0)
    assert zero.config.embedding_size == 32 and zero.config.encoder == "hashing-256"
    _, weights = read_pretrained(str(pretrained))
    for key, value in shared_state(zero._net).items():
        assert torch.equal(value, weights[key]), key
    assert zero.history_ == []


def test_fine_tuning_starts_from_the_pretrained_weights_and_trains(pretrained: Path) -> None:
    shop = phones_then_cases(SHOP_B, 40, seed=1)
    config = {"pretrained": str(pretrained), "epochs": 2, "num_threads": 1, "patience": None}
    tuned = Transfer(config).fit(shop, rng=0)
    assert len(tuned.history_) == 2
    _, weights = read_pretrained(str(pretrained))
    moved = [k for k, v in shared_state(tuned._net).items() if not torch.equal(v, weights[k])]
    assert moved  # training changed the shared weights
    assert hits_at(tuned, shop, SHOP_B, k=3) >= 0.8


def test_a_saved_zero_shot_model_loads_with_the_same_scores(
    pretrained: Path, tmp_path: Path
) -> None:
    shop = phones_then_cases(SHOP_B, 40, seed=1)
    zero = Transfer({"pretrained": str(pretrained), "fine_tune": False}).fit(shop, rng=0)
    zero.save(tmp_path / "m")
    again = load(tmp_path / "m")
    assert isinstance(again, Transfer)
    queries = [Query.of([1, 2]), Query.of([5])]
    np.testing.assert_allclose(again.score_many(queries), zero.score_many(queries), atol=1e-6)


def test_missing_pretrained_weights_name_the_folder_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no pretrained weights in .*benchmarks/transfer.py"):
        Transfer({"pretrained": str(tmp_path / "nothing")}).fit(text_blocks(), rng=0)


@pytest.mark.parametrize("name", ["hybrid", "transfer"])
def test_text_models_query_vectors_times_item_matrix_are_the_scores(name: str) -> None:
    config = {**TINY, "epochs": 1}
    if name == "hybrid":
        config.pop("pretrained")
    model = create(name, config).fit(text_blocks(), rng=0)
    assert isinstance(model, Hybrid)
    scorer = dot_product(model)
    assert scorer is not None
    queries = [Query.of([1, 2, 3]), Query.of([5])]
    got = scorer.query_vectors(queries) @ scorer.item_matrix()[1:].T
    np.testing.assert_allclose(got, model.score_many(queries)[:, 1:], rtol=1e-4, atol=1e-4)


def test_builtin_weights_are_shipped_and_fit_the_default_network() -> None:
    arch, weights = read_pretrained("builtin")
    assert BUILTIN.is_dir() and arch["encoder"] == "all-MiniLM-L6-v2"
    assert weights["item_emb.proj.weight"].shape == (arch["embedding_size"], 384)


# -- the text path, the ban on seen items, weights from before the text path ---------------
def test_profile_weights_are_the_content_models_recency_weights_per_prefix() -> None:
    expected = [[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [0.0, 0.5, 1.0]]
    np.testing.assert_allclose(profile_weights(3, max_history=2, decay=0.5), expected)


def test_the_text_path_alone_is_s_times_the_content_models_scores() -> None:
    data = text_blocks()
    model = Transfer({**TINY, "epochs": 1, "text_scale": 3.0}).fit(data, rng=0)
    net = model._net
    assert isinstance(net, TransferNet)
    with torch.no_grad():
        net.items.proj.weight.zero_()  # h · W t = 0: only s · cos(p, t) is left
    scale = float(net.text_scale.detach())  # learnt from 3.0 in the one epoch
    assert 2.5 < scale < 3.5
    content = ContentModel({"encoder": "hashing-32"}).fit(data)
    queries = [Query.of([1, 2, 3]), Query.of([7])]
    got = model.score_many(queries)[:, 1:]
    np.testing.assert_allclose(got, scale * content.score_many(queries)[:, 1:], atol=1e-5)
    text = model.text_
    assert text is not None
    profile = 0.8**2 * text[1] + 0.8 * text[2] + text[3]  # the content profile, by hand
    cosines = text[1:] @ (profile / np.linalg.norm(profile))
    assert int(np.argmax(got[0])) == int(np.argmax(cosines))  # the most similar text first
    np.testing.assert_allclose(got[0], scale * cosines, atol=1e-5)


def test_input_items_are_each_positions_history() -> None:
    items = torch.tensor([[4, 5, 6, 0]])
    expected = [[4, 0, 0, 0], [4, 5, 0, 0], [4, 5, 6, 0], [4, 5, 6, 0]]
    assert input_items(items)[0].tolist() == expected


def _banned_logits(logits: torch.Tensor, banned: torch.Tensor, targets: torch.Tensor) -> Any:
    out = logits.clone()
    for row in range(len(banned)):
        for item in banned[row].tolist():
            if item >= 0 and item != targets[row]:
                out[row, item] = float("-inf")
    return out


def test_banned_items_are_no_competitors_in_the_full_softmax() -> None:
    gen = torch.Generator().manual_seed(0)
    hidden, table = torch.randn(3, 4, generator=gen), torch.randn(6, 4, generator=gen)
    targets = torch.tensor([1, 2, 5])
    banned = torch.tensor([[2, 3], [2, -1], [0, 4]])  # row 1's own target stays
    got = linear_cross_entropy(hidden, table, targets, banned=banned)
    logits = _banned_logits(hidden @ table.t(), banned, targets)
    torch.testing.assert_close(got, torch.nn.functional.cross_entropy(logits, targets))
    assert got < linear_cross_entropy(hidden, table, targets)  # fewer competitors


def test_banned_items_are_masked_out_of_the_sampled_negatives() -> None:
    gen = torch.Generator().manual_seed(1)
    hidden, table = torch.randn(2, 4, generator=gen), torch.randn(8, 4, generator=gen)
    targets, negatives = torch.tensor([1, 2]), torch.tensor([2, 3, 5, 7])
    banned = torch.tensor([[3, 7], [2, 5]])
    got = sampled_cross_entropy(hidden, table, targets, negatives, banned=banned)
    columns = torch.cat([targets[:, None], negatives.expand(2, -1)], dim=1)  # (N, 1 + M)
    logits = (hidden[:, None, :] * table[columns]).sum(-1)
    logits[0, 2] = logits[0, 4] = float("-inf")  # row 0: 3 and 7 banned
    logits[1, 1] = logits[1, 3] = float("-inf")  # row 1: 2 is its target, 5 banned
    expected = torch.nn.functional.cross_entropy(logits, torch.zeros(2, dtype=torch.long))
    torch.testing.assert_close(got, expected)


def test_weights_without_the_text_scale_load_with_the_configured_one(
    pretrained: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text((pretrained / "config.json").read_text())
    weights = load_file(str(pretrained / "shared.safetensors"))
    assert "text_scale" in weights
    save_file(
        {k: v for k, v in weights.items() if k != "text_scale"}, str(old / "shared.safetensors")
    )
    shop = phones_then_cases(SHOP_B, 40, seed=1)
    zero = Transfer({"pretrained": str(old), "fine_tune": False, "text_scale": 7.0}).fit(shop)
    net = zero._net
    assert isinstance(net, TransferNet) and float(net.text_scale.detach()) == 7.0
    assert torch.equal(net.blocks[0].ffn.fc.weight, weights["blocks.0.ffn.fc.weight"])
    # a saved model from before the text path loads too, with the default s
    zero.save(tmp_path / "m")
    saved = tmp_path / "m" / "weights.safetensors"
    tensors = load_file(str(saved))
    save_file({k: v for k, v in tensors.items() if k != "net.text_scale"}, str(saved))
    again = load(tmp_path / "m")
    assert isinstance(again, Transfer) and float(again._transfer_net.text_scale.detach()) == 7.0


# -- the text path inside the chunked losses ------------------------------------------------
def _text_case(loss: str, banned: bool, weighted: bool) -> tuple[dict[str, torch.Tensor], Any, Any]:
    """Inputs (N = 300 rows, V = 120 table rows, E = 24) of one loss with a text path, the
    loss through it, and the autograd reference over explicit logits."""
    gen = torch.Generator().manual_seed(7)
    leaves = {
        "hidden": torch.randn(300, 8, generator=gen),
        "table": torch.randn(120, 8, generator=gen),
        "scale": torch.tensor(3.0),
    }
    for leaf in leaves.values():
        leaf.requires_grad_()
    profiles = torch.nn.functional.normalize(torch.randn(300, 24, generator=gen), dim=1)
    text = torch.nn.functional.normalize(torch.randn(120, 24, generator=gen), dim=1)
    targets = torch.randint(1, 120, (300,), generator=gen)
    ban = torch.randint(-1, 120, (300, 5), generator=gen) if banned else None
    weights = torch.rand(300, generator=gen) * 2 if weighted else None
    negatives = torch.randperm(119, generator=gen)[:60].sort().values + 1  # distinct, sorted
    path = TextPath(profiles, text, leaves["scale"])

    def ours() -> torch.Tensor:
        h, w = leaves["hidden"], leaves["table"]
        if loss == "softmax":
            return linear_cross_entropy(h, w, targets, weights, ban, text=path)
        return sampled_cross_entropy(h, w, targets, negatives, weights, ban, text=path)

    def reference() -> torch.Tensor:
        h, w, s = leaves["hidden"], leaves["table"], leaves["scale"]
        logits = h @ w.t() + s * (profiles @ text.t())  # (N, V)
        banned_cols = torch.zeros(logits.shape, dtype=torch.bool)
        if ban is not None:
            rows = torch.arange(300)[:, None].expand_as(ban)
            banned_cols[rows[ban >= 0], ban[ban >= 0]] = True
        y = targets
        if loss == "sampled":  # columns: the target, then the negatives
            columns = torch.cat([targets[:, None], negatives.expand(300, -1)], dim=1)
            logits, banned_cols = logits.gather(1, columns), banned_cols.gather(1, columns)
            banned_cols[:, 1:] |= negatives[None, :] == targets[:, None]
            banned_cols[:, 0], y = False, torch.zeros_like(targets)
        else:
            banned_cols[torch.arange(300), targets] = False  # the own target competes
        logits = logits.masked_fill(banned_cols, float("-inf"))
        losses = torch.nn.functional.cross_entropy(logits, y, reduction="none")
        return losses.mean() if weights is None else (losses * weights).sum() / weights.sum()

    return leaves, ours, reference


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("banned", [False, True])
@pytest.mark.parametrize("loss", ["softmax", "sampled"])
def test_the_losses_text_path_matches_autograd_on_the_explicit_logits(
    loss: str, banned: bool, weighted: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sasrec_losses, "_CHUNK_BYTES", 1)  # chunks of 64 rows: several
    monkeypatch.setattr(sasrec_losses, "_MIN_CHUNK", 64)
    leaves, ours, reference = _text_case(loss, banned, weighted)
    got = ours()
    grads = torch.autograd.grad(got * 2.0, list(leaves.values()))
    expected = reference()
    ref_grads = torch.autograd.grad(expected * 2.0, list(leaves.values()))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    for name, g, r in zip(leaves, grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5, msg=name)
    assert abs(float(ref_grads[2])) > 1e-3  # s's gradient is tested, not trivially zero


@pytest.mark.parametrize("loss", ["softmax", "sampled"])
def test_transfer_loss_equals_the_loss_over_the_concatenated_scores(loss: str) -> None:
    data = text_blocks()
    model = Transfer({**TINY, "epochs": 1, "loss": loss, "num_negatives": 5}).fit(data, rng=0)
    net = model._transfer_net
    net.train()
    batch = next(iter(SequenceBatches(data.sequences, max_len=8, batch=16, seed=0).epoch(0)))
    params = [p for p in net.parameters() if p.requires_grad]
    torch.manual_seed(0)
    got = model._loss(net, batch)
    grads = torch.autograd.grad(got, params, allow_unused=True)
    items, positions, targets = batch  # the scores of every item, as serving computes them
    torch.manual_seed(0)  # the same dropout masks and negatives
    table = net.items.table()
    full, seen_where = net.full_table(table), net.items.candidates()
    queries = net.queries(items, table).flatten(0, 1)[positions]
    seen, where = seen_where
    banned = where[input_items(items)].flatten(0, 1)[positions]
    if loss == "softmax":
        expected = linear_cross_entropy(queries, full[seen], where[targets], banned=banned)
    else:
        negatives = torch.randperm(len(seen))[:5].sort().values
        expected = sampled_cross_entropy(
            queries, full[seen], where[targets], negatives, banned=banned
        )
    ref_grads = torch.autograd.grad(expected, params, allow_unused=True)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    for g, r in zip(grads, ref_grads, strict=True):
        assert (g is None) == (r is None)
        if g is not None:
            torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-6)
    assert grads[params.index(net.text_scale)] is not None
