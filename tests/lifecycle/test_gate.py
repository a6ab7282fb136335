"""The activation gate: a worse version is saved but not activated, an equal or better one is,
--force (no gate) activates anything; the holdout is one neither version trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifecycle_shop import add_visits, build_shop

from cartwise.data.dataset import Dataset
from cartwise.data.split import EvalSet, holdout_recent
from cartwise.data.store import Store
from cartwise.errors import ConfigError
from cartwise.evaluation.protocol import evaluate
from cartwise.lifecycle import Gate, Versions, train_version
from cartwise.lifecycle.heldout import HeldOut, score
from cartwise.models.fit import fit
from cartwise.models.registry import create


@pytest.fixture
def shop(store_url: str) -> Store:
    """The accessory shop (phase 1), on SQLite and on PostgreSQL."""
    store = Store.open(store_url)
    build_shop(store)
    return store


@pytest.fixture
def sqlite_shop(tmp_path: Path) -> Store:
    """The accessory shop (phase 1) on SQLite."""
    store = Store.open(tmp_path / "shop.db")
    build_shop(store)
    return store


def test_score_in_external_ids_equals_the_protocol(sqlite_shop: Store) -> None:
    data = Dataset.from_store(sqlite_shop)
    train, valid = holdout_recent(data)
    model = create("itemknn").fit(train, rng=0)
    ks = (1, 5, 10)
    ours = score(model, HeldOut.of(data, valid), ks)
    protocol = evaluate(model, valid, ks=ks).metrics
    assert ours == {k: protocol[k] for k in ours}
    assert ours["ndcg@10"] > 0.3  # the pattern is learnt: a meaningful figure, not zeros


def test_targets_a_model_does_not_know_are_misses() -> None:
    # Popularity learnt x once and y twice; z and q came later and are unknown to it.
    frame = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "item_id": ["x", "y", "y"]})
    model = create("popularity").fit(Dataset.from_frame(frame), rng=0)
    held = HeldOut(histories=[["x"], ["q"]], targets=[["y"], ["z"]])
    got = score(model, held, (10,))
    # shopper 1: x is seen, y ranks first (NDCG 1); shopper 2: z cannot be ranked (rank 10:
    # beyond the cut-off, although the model has only 2 items), q is left out of the history.
    assert got["hr@10"] == 0.5 and got["ndcg@10"] == 0.5
    assert got["mrr"] == pytest.approx((1.0 + 1.0 / 11.0) / 2.0)


def test_gate_refuses_a_worse_model_and_keeps_it_saved(shop: Store, tmp_path: Path) -> None:
    versions = Versions(tmp_path / "models")
    first = train_version(shop, versions, "itemknn", rng=0, gate=Gate())
    assert first.activated and first.decision is not None and first.decision.basis == "none"
    add_visits(shop)  # 60 shoppers come back after the active version's training

    worse = train_version(shop, versions, "popularity", rng=0, gate=Gate())
    decision = worse.decision
    assert decision is not None and not worse.activated
    assert decision.basis == "after" and decision.active_version == first.version
    assert decision.new is not None and decision.active is not None
    assert decision.new < decision.active * 0.98
    assert f"{decision.new:.4f} (new) vs {decision.active:.4f} (active" in decision.reason
    assert versions.active() == first.version
    assert worse.version in versions.list()  # saved, not active
    assert versions.info(worse.version)["gate"]["activate"] is False
    # the holdout was everything after the active version's newest event: what it never saw
    assert versions.info(worse.version)["holdout"]["after"] > first.info["window"]["last"]

    same = train_version(shop, versions, "itemknn", rng=0, gate=Gate())
    assert same.activated and same.decision is not None and same.decision.basis == "after"
    assert same.decision.new == same.decision.active  # the same recipe on the same events

    forced = train_version(shop, versions, "popularity", rng=0, gate=None)  # --force
    assert forced.activated and forced.decision is None
    assert versions.active() == forced.version


def test_an_unchanged_store_compares_with_the_recorded_validation(
    sqlite_shop: Store, tmp_path: Path
) -> None:
    versions = Versions(tmp_path / "models")
    first = train_version(sqlite_shop, versions, "itemknn", rng=0, gate=Gate())
    better = train_version(sqlite_shop, versions, "itemknn", {"k": 5}, rng=0, gate=Gate())
    decision = better.decision
    assert decision is not None and decision.basis == "recorded"
    assert decision.active == first.info["validation"]["ndcg@10"]
    assert decision.new == better.info["validation"]["ndcg@10"]
    assert better.activated == (decision.new >= decision.active * 0.98)
    worse = train_version(sqlite_shop, versions, "popularity", rng=0, gate=Gate())
    assert worse.decision is not None and worse.decision.basis == "recorded"
    assert not worse.activated


def test_few_new_events_compare_with_the_active_recipe_refitted(
    sqlite_shop: Store, tmp_path: Path
) -> None:
    versions = Versions(tmp_path / "models")
    first = train_version(sqlite_shop, versions, "itemknn", rng=0, gate=Gate())
    add_visits(sqlite_shop, shoppers=5)  # fewer than min_users come back
    worse = train_version(sqlite_shop, versions, "popularity", rng=0, gate=Gate())
    decision = worse.decision
    assert decision is not None and decision.basis == "reference" and not worse.activated
    # the reference: the active recipe (itemknn, seed 0) fitted on the new run's training part
    train, valid = holdout_recent(Dataset.from_store(sqlite_shop))
    reference = fit("itemknn", {}, train, valid=valid, rng=0).model
    assert decision.active == evaluate(reference, valid, ks=(10,)).metrics["ndcg@10"]
    # the active version's own recipe again: nothing it did not see to judge on, activated
    again = train_version(sqlite_shop, versions, "itemknn", rng=0, gate=Gate())
    assert again.decision is not None and again.decision.basis == "same-recipe"
    assert again.activated and versions.active() == again.version != first.version


def test_margin_lets_a_worse_model_through(sqlite_shop: Store, tmp_path: Path) -> None:
    versions = Versions(tmp_path / "models")
    train_version(sqlite_shop, versions, "itemknn", rng=0, gate=Gate())
    loose = train_version(sqlite_shop, versions, "popularity", rng=0, gate=Gate(margin=0.99))
    assert loose.activated and loose.decision is not None
    assert loose.decision.new is not None and loose.decision.active is not None
    assert loose.decision.active * 0.01 <= loose.decision.new < loose.decision.active


def test_a_version_holding_deleted_shoppers_is_replaced_whatever_the_gate_says(
    sqlite_shop: Store, tmp_path: Path
) -> None:
    versions = Versions(tmp_path / "models")
    train_version(sqlite_shop, versions, "itemknn", rng=0, gate=Gate())
    removed = sqlite_shop.delete_user("u3")
    versions.note_deletion(removed["events"])
    after = train_version(sqlite_shop, versions, "popularity", rng=0, gate=Gate())
    decision = after.decision
    assert decision is not None and decision.override is not None
    assert "deleted" in decision.override and "worse" in decision.reason
    assert after.activated and versions.deletion_mark(after.version) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [({"margin": 1.5}, "gate margin 1.5"), ({"metric": "mrr"}, "gate metric 'mrr'")],
)
def test_bad_gate_settings_fail_clearly(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Gate(**options)  # type: ignore[arg-type]


def test_heldout_keeps_external_ids(sqlite_shop: Store) -> None:
    data = Dataset.from_store(sqlite_shop)
    valid = EvalSet(np.asarray([1]), [data.items.encode(["a1", "b1"])], [data.items.encode(["a2"])])
    held = HeldOut.of(data, valid)
    assert held.histories == [["a1", "b1"]] and held.targets == [["a2"]] and len(held) == 1


def test_an_activation_by_hand_meanwhile_is_not_overwritten(
    sqlite_shop: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = Versions(tmp_path / "models")
    by_hand = train_version(sqlite_shop, versions, "popularity", rng=0, gate=None).version
    train_version(sqlite_shop, versions, "itemknn", rng=0, gate=None)
    save = versions.save

    def save_while_an_operator_activates(model: object, info: dict[str, object]) -> str:
        name = save(model, info)  # type: ignore[arg-type]
        versions.activate(by_hand)  # between the gate's decision and the activation
        return name

    monkeypatch.setattr(versions, "save", save_while_an_operator_activates)
    late = train_version(sqlite_shop, versions, "itemknn", {"k": 5}, rng=0, gate=Gate())
    assert not late.activated and versions.active() == by_hand
    assert late.decision is not None and "the active version changed from" in late.decision.reason
