"""A holdout in external ids, so that any version can be scored on it.

A holdout is cut from one snapshot of the store; the active version was trained on another,
with its own item vocabulary. :class:`HeldOut` keeps the shoppers' histories and held-out
items as external ids, and :func:`score` reads them through each model's vocabulary: history
items the model does not know are left out of its input, and held-out items it does not know
cannot be ranked by it, so they count as misses (rank = its catalog size, or the largest
cut-off if that is larger) — for every model alike. With every item known, :func:`score`
gives exactly the figures of :func:`cartwise.evaluation.protocol.evaluate`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cartwise.data.dataset import Dataset
from cartwise.data.split import EvalSet
from cartwise.evaluation import metrics as m
from cartwise.evaluation.protocol import rank_metrics
from cartwise.models.base import Query, Recommender

_BATCH_ELEMENTS = 1 << 24  # scores per batch (64 MiB of float32)


@dataclass(frozen=True)
class HeldOut:
    """A holdout in external ids.

    Attributes:
        histories: per shopper, the items of their input history, oldest first.
        targets: per shopper, the held-out items.
        exclude_seen: whether input items are removed from the candidates.
    """

    histories: list[list[str]]
    targets: list[list[str]]
    exclude_seen: bool = True

    def __len__(self) -> int:
        return len(self.targets)

    @classmethod
    def of(cls, data: Dataset, valid: EvalSet) -> HeldOut:
        """The validation set `valid`, cut from `data`, in external ids."""
        decode = data.items.decode
        return cls([decode(h) for h in valid.inputs], [decode(t) for t in valid.targets],
                   valid.exclude_seen)  # fmt: skip


def score(model: Recommender, held: HeldOut, ks: tuple[int, ...] = (10,)) -> dict[str, float]:
    """HR, NDCG and Recall at `ks` and MRR of `model` on `held` (full ranking, pessimistic
    ties, as :func:`cartwise.evaluation.protocol.evaluate`); targets unknown to the model are
    misses."""
    assert model.items_ is not None
    vocab, n_items = model.items_, model.n_items
    miss = max(n_items, *ks)  # beyond every cut-off, whatever the catalog size
    batch = max(1, _BATCH_ELEMENTS // (n_items + 1))
    target_ranks: list[np.ndarray] = []
    for start in range(0, len(held), batch):
        inputs = [vocab.encode(h, skip_unknown=True) for h in held.histories[start : start + batch]]
        known = [vocab.encode(t, skip_unknown=True) for t in held.targets[start : start + batch]]
        scores = model.score_many([Query(h) for h in inputs])
        masked = m.mask_scores(scores, inputs if held.exclude_seen else None)
        for ranks, want, got in zip(
            m.multi_ranks(masked, known), held.targets[start : start + batch], known, strict=True
        ):
            target_ranks.append(np.concatenate([ranks, np.full(len(want) - len(got), miss)]))
    best = np.fromiter((r.min() for r in target_ranks), dtype=np.int64, count=len(target_ranks))
    single = all(len(t) == 1 for t in held.targets)
    return rank_metrics(best, target_ranks, ks, single)
