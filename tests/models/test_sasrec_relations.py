"""The catalog's links read by the event-aware SASRec: slots, a learnt after-purchase pattern
that generalises to products never bought in training, persistence and the vector form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from cartwise.data.dataset import Dataset
from cartwise.data.split import leave_last_out
from cartwise.evaluation.protocol import evaluate
from cartwise.models.base import Query
from cartwise.models.sasrec import SASRec
from cartwise.models.sasrec_relations import LINK_SCALE, ItemRelations, catalog_slots

PATTERN: dict[str, Any] = {
    "max_len": 16, "embedding_size": 32, "num_blocks": 1, "epochs": 40, "batch_size": 32,
    "learning_rate": 1e-2, "dropout": 0.0, "warmup": 0.0, "num_threads": 1, "patience": None,
    "event_aware": True, "autoconfig": False,
}  # fmt: skip


def small_catalog() -> pd.DataFrame:
    rows = [
        ("P1", ["Phones"], {"colour": "Black", "model": "X1"}),
        ("P2", ["Phones"], {"colour": "White", "model": "X1"}),
        ("C1", ["Cases"], {"compatible_with": "P1", "colour": "Black"}),
        ("C2", ["Cases"], {"compatible_with": "P2", "features": ["slim"]}),
        ("K", ["Cameras"], {"card_format": "SD"}),
        ("M", ["Cards"], {"card_format": "SD"}),
        ("N", ["Cards"], {"card_format": "CF"}),
    ]
    return pd.DataFrame(rows, columns=["item_id", "category", "attributes"])


def test_slots_are_declared_fits_and_values_shared_across_categories() -> None:
    items = small_catalog()
    frame = pd.DataFrame({"user_id": ["u"] * 7, "item_id": list(items["item_id"])})
    data = Dataset.from_frame(frame, items)
    slots = catalog_slots(data.item_info, data.items)
    assert slots is not None
    # model X1 is shared within Phones only, CF and White are held once, lists are not read
    assert slots.keys == ["card_format", "colour", "fits:compatible_with"]
    found = {
        (slots.keys[int(slots.slot_key[m])], tuple(data.items.decode(np.flatnonzero(col))))
        for m, col in enumerate(slots.source.T)
    }
    fits = "fits:compatible_with"
    assert found == {
        ("card_format", ("K", "M")), ("colour", ("P1", "C1")), (fits, ("P1",)), (fits, ("P2",))
    }  # fmt: skip
    cols = [m for m in range(slots.size) if slots.keys[slots.slot_key[m]] == fits]
    assert sorted(data.items.decode(np.flatnonzero(slots.target[:, cols].sum(1)))) == ["C1", "C2"]
    assert catalog_slots(None, data.items) is None


def test_the_bias_is_the_weight_of_the_kind_and_key() -> None:
    data = Dataset.from_frame(
        pd.DataFrame({"user_id": ["u"] * 7, "item_id": list(small_catalog()["item_id"])}),
        small_catalog(),
    )
    slots = catalog_slots(data.item_info, data.items)
    assert slots is not None
    module = ItemRelations(slots, n_kinds=3)
    with torch.no_grad():
        module.weight[2] = torch.tensor([0.5, 0.25, 2.0])  # card_format, colour, fits
    p1, k = data.items.index("P1"), data.items.index("K")
    bias = module.bias(torch.tensor([p1, k, p1]), torch.tensor([2, 2, 1]))
    expected = np.zeros((3, data.n_items + 1), dtype=np.float32)
    expected[0, [data.items.index("C1")]] = 2.0 + 0.25  # fits P1, and black like P1
    expected[0, p1] = 0.25
    expected[1, [k, data.items.index("M")]] = 0.5
    np.testing.assert_allclose(bias.detach().numpy(), LINK_SCALE * expected)


def phone_pattern(n_users: int = 240, phones: int = 40, seed: int = 0) -> pd.DataFrame:
    """Shoppers view fillers, then a phone: bought, the case made for it comes next; viewed, a
    random filler. Every last episode is a purchase of one of the last 10 phones, which never
    occur in training: only the catalog's link can tell which case fits them."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        t = 0
        for e in range(3):
            last = e == 2
            phone = int(rng.integers(phones - 10, phones) if last else rng.integers(phones - 10))
            bought = last or bool(rng.integers(2))
            for f in rng.integers(0, 10, size=int(rng.integers(1, 3))):
                rows.append((f"u{u}", f"f{f}", "view", t))
                t += 60
            rows.append((f"u{u}", f"p{phone}", "purchase" if bought else "view", t))
            nxt = f"c{phone}" if bought else f"f{int(rng.integers(10))}"
            rows.append((f"u{u}", nxt, "view", t + 60))
            t += 120
    return pd.DataFrame(rows, columns=["user_id", "item_id", "kind", "timestamp"])


def phone_catalog(phones: int = 40) -> pd.DataFrame:
    rows = [(f"p{i}", ["Phones"], {}) for i in range(phones)]
    rows += [(f"c{i}", ["Cases"], {"compatible_with": f"p{i}"}) for i in range(phones)]
    rows += [(f"f{i}", ["Other"], {}) for i in range(10)]
    return pd.DataFrame(rows, columns=["item_id", "category", "attributes"])


@pytest.fixture(scope="module")
def phones() -> tuple[Dataset, SASRec, SASRec]:
    data = Dataset.from_frame(phone_pattern(), phone_catalog(), name="phones")
    split = leave_last_out(data)
    linked = SASRec(PATTERN).fit(split.train, rng=0)  # relations: on by default
    plain = SASRec({**PATTERN, "relations": False}).fit(split.train, rng=0)
    return data, linked, plain


@pytest.mark.slow  # two models, 40 epochs each (~6 s)
def test_the_case_for_a_phone_never_bought_in_training_comes_first(
    phones: tuple[Dataset, SASRec, SASRec],
) -> None:
    data, linked, plain = phones
    test = leave_last_out(data).test
    assert evaluate(linked, test, ks=(1,))["hr@1"] >= 0.9
    assert evaluate(plain, test, ks=(1,))["hr@1"] <= 0.3  # 10 unseen cases look alike
    assert linked.net_ is not None and linked.net_.relations is not None
    weights = linked.net_.relations.weight.detach()
    bought, viewed = data.kind_code("purchase"), data.kind_code("view")
    assert bought is not None and viewed is not None
    assert LINK_SCALE * float(weights[bought, 0] - weights[viewed, 0]) > 5.0  # per kind


def test_links_survive_save_load_and_match_the_vector_form(
    phones: tuple[Dataset, SASRec, SASRec], tmp_path: Path
) -> None:
    data, linked, _ = phones
    assert data.kinds is not None and data.timestamps is not None
    queries = [Query(data.sequences[u], u, data.kinds[u], data.timestamps[u]) for u in (1, 2, 3)]
    linked.save(tmp_path / "m")
    loaded = SASRec.load(tmp_path / "m")
    scores = linked.score_many(queries)
    np.testing.assert_array_equal(loaded.score_many(queries), scores)
    dot = linked.query_vectors(queries) @ linked.item_matrix().T
    np.testing.assert_allclose(dot[:, 1:], scores[:, 1:], rtol=1e-4, atol=1e-4)


def test_without_links_in_the_catalog_the_network_has_none() -> None:
    frame = phone_pattern(n_users=20)
    data = Dataset.from_frame(frame, name="no-catalog")
    model = SASRec({**PATTERN, "epochs": 1}).fit(data, rng=0)
    assert model.net_ is not None and model.net_.relations is None
