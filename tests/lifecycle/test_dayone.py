"""Day one: a shop with a catalog and no events gets the pretrained text model, built by
``cartwise serve``'s subprocess, instead of popularity alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from lifecycle_shop import T0

from cartwise.cli.service import start_day_one
from cartwise.config import Settings
from cartwise.data.schema import Event, Item
from cartwise.data.store import Store
from cartwise.lifecycle import Versions, train_version
from cartwise.models.transfer import BUILTIN
from cartwise.serving.engine import Engine

pytestmark = pytest.mark.slow

PHONES = ["Fonix X smartphone", "Zelo 12 smartphone", "Kappa Pro smartphone"]
ACCESSORIES = [f"{p.split(' smartphone')[0]} {kind}" for p in PHONES
               for kind in ("silicone case", "screen protector", "charger")]  # fmt: skip
OTHER = ["trail running shoe", "yoga mat", "espresso machine", "garden hose", "desk lamp"]


def _catalog(store: Store) -> list[str]:
    titles = PHONES + ACCESSORIES + OTHER
    items = [Item(id=f"p{n}", title=t, category=[t.split()[-1]]) for n, t in enumerate(titles)]
    store.upsert_items(items)
    return [i.id for i in items]


def _settings(store_url: str, models: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # the subprocess reads the store and the model folder from the environment, as under serve
    monkeypatch.setenv("CARTWISE_STORE_URL", store_url)
    monkeypatch.setenv("CARTWISE_MODEL_DIR", str(models))
    return Settings(store_url=store_url, model_dir=models)


def test_a_catalog_without_events_gets_the_pretrained_text_model(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not BUILTIN.is_dir():
        pytest.fail(f"the builtin transfer weights are missing from {BUILTIN}")
    store = Store.open(store_url)
    ids = _catalog(store)
    settings = _settings(store_url, tmp_path / "models", monkeypatch)
    process = start_day_one(settings)
    assert process is not None
    assert process.wait(timeout=600) == 0
    versions = Versions(tmp_path / "models")
    active = versions.active()
    assert active is not None and versions.info(active)["model"] == "transfer"
    assert versions.info(active)["interactions"] == 0
    engine = Engine(store, tmp_path / "models", answer_cache=0)
    phone = engine.recommend_session([(ids[0], "purchase")], k=5)
    mat = engine.recommend_session([(ids[-4], "view")], k=5)
    # the answers read the session (popularity over no events could not tell them apart)
    assert [r.item.id for r in phone.items] != [r.item.id for r in mat.items]
    assert len(phone.items) == 5


def test_no_day_one_model_when_a_version_exists_or_the_catalog_is_empty(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(store_url)
    settings = _settings(store_url, tmp_path / "models", monkeypatch)
    assert start_day_one(settings) is None  # no items
    _catalog(store)
    store.append_events(
        [Event(event_id="e1", user_id="u1", item_id="p0", kind="view", timestamp=T0)]
    )
    train_version(store, Versions(tmp_path / "models"), "popularity", rng=0)
    assert start_day_one(settings) is None  # a version is active
