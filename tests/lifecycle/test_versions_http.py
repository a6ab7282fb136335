"""Model versions over HTTP (read keys list and show, admin keys activate, roll back, prune),
online metrics per version, and the store report job."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from lifecycle_shop import build_shop

from cartwise.config import Settings
from cartwise.data.dataset import Dataset
from cartwise.data.store import Store
from cartwise.evaluation.experiment import run_model
from cartwise.evaluation.suite import SplitSpec
from cartwise.lifecycle import Versions, train_version
from cartwise.service.app import create_app
from cartwise.serving.engine import Engine

READ, ADMIN = {"X-API-Key": "reader"}, {"X-API-Key": "boss"}
KEYS = {"reader": ["read"], "boss": ["admin"]}


@pytest.fixture
def shop(store_url: str, tmp_path: Path) -> tuple[Store, list[str]]:
    """The accessory shop with three versions: popularity, itemknn (k=30), popularity (active)."""
    store = Store.open(store_url)
    build_shop(store)
    versions = Versions(tmp_path / "models")
    names = [
        train_version(store, versions, model, config, rng=0).version
        for model, config in (("popularity", None), ("itemknn", {"k": 30}), ("popularity", None))
    ]
    return store, names


@pytest.fixture
def client(shop: tuple[Store, list[str]], tmp_path: Path) -> Iterator[TestClient]:
    engine = Engine(shop[0], tmp_path / "models")
    app = create_app(engine, Settings(api_keys=KEYS))  # type: ignore[arg-type]
    with TestClient(app) as c:
        yield c


def test_read_keys_list_and_show_versions_side_by_side(
    client: TestClient, shop: tuple[Store, list[str]]
) -> None:
    _, names = shop
    rec = client.get("/users/u1/recommendations", params={"k": 3}, headers=READ).json()
    assert rec["model_version"] == names[2]
    click = {"recommendation_id": rec["recommendation_id"], "item_id": rec["items"][0]["item_id"],
             "kind": "click"}  # fmt: skip
    write = {"X-API-Key": "boss"}
    assert client.post("/feedback", json={"events": [click]}, headers=write).status_code == 200

    body = client.get("/models", headers=READ).json()
    assert body["versions"] == names and body["active"] == names[2]
    assert body["rollback_target"] == names[1]
    by_name = {d["version"]: d for d in body["details"]}
    knn = by_name[names[1]]
    assert knn["model"] == "itemknn" and knn["settings"] == {"k": 30}
    assert knn["window"]["first"].startswith("2024-01-01") and knn["offline"]["ndcg@10"] > 0.3
    assert knn["online"]["served"] == 0
    online = by_name[names[2]]["online"]
    assert (online["served"], online["impressions"], online["clicks"], online["ctr"]) == (
        1, 1, 1, 1.0,
    )  # fmt: skip
    assert online["scenarios"]["user"]["clicks"] == 1
    one = client.get(f"/models/{names[1]}", headers=READ).json()
    assert one == knn
    missing = client.get("/models/nope", headers=READ)
    assert missing.status_code == 404 and "is not in" in missing.json()["error"]["message"]


def test_admin_keys_activate_roll_back_and_prune(
    client: TestClient, shop: tuple[Store, list[str]]
) -> None:
    _, names = shop
    for path in (f"/models/{names[0]}/activate", "/models/rollback", "/models/prune?keep=0"):
        assert client.post(path, headers=READ).status_code == 403
    done = client.post(f"/models/{names[0]}/activate", headers=ADMIN).json()
    assert done == {"active": names[0], "previous": names[2]}
    rec = client.get("/users/u1/recommendations", headers=READ).json()
    assert rec["model_version"] == names[0]  # served at once, no restart
    assert client.post("/models/rollback", headers=ADMIN).json() == {
        "active": names[2], "previous": names[0],
    }  # fmt: skip
    pruned = client.post("/models/prune", params={"keep": 0}, headers=ADMIN).json()
    # the undo stack is names 0, 1, 2 again: names[1] is the rollback target, names[2] active
    assert pruned == {"deleted": [names[0]], "kept": [names[1], names[2]]}
    unknown = client.post("/models/nope/activate", headers=ADMIN)
    assert unknown.status_code == 404
    assert client.post("/models/prune", params={"keep": -1}, headers=ADMIN).status_code == 422
    assert client.post("/models/rollback", headers=ADMIN).status_code == 200
    nothing = client.post("/models/rollback", headers=ADMIN)
    assert nothing.status_code == 404
    assert "no earlier active version" in nothing.json()["error"]["message"]


def test_deleting_a_shopper_over_http_marks_the_versions(
    client: TestClient, shop: tuple[Store, list[str]]
) -> None:
    _, names = shop
    assert client.delete("/users/u5", headers=ADMIN).status_code == 200
    body = client.get(f"/models/{names[2]}", headers=READ).json()
    assert body["deleted_shoppers"]["shoppers"] == 1


def _wait_done(client: TestClient) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get("/reports", headers=READ).json()
        if job["state"] != "running":
            return job
        time.sleep(0.5)
    raise AssertionError("the report job did not finish in 300 s")


@pytest.mark.slow
def test_report_job_runs_the_store_evaluation_in_the_background(
    client: TestClient, shop: tuple[Store, list[str]], tmp_path: Path
) -> None:
    store, names = shop
    empty = client.get("/reports/latest", headers=READ)
    assert empty.status_code == 404 and "POST /reports" in empty.json()["error"]["message"]
    assert client.post("/reports", headers=READ).status_code == 403
    assert client.post(f"/models/{names[1]}/activate", headers=ADMIN).status_code == 200
    started = client.post("/reports", headers=ADMIN)
    assert started.status_code == 202 and started.json()["new"] is True
    assert started.json()["about"] == {"version": names[1]}
    again = client.post("/reports", headers=ADMIN).json()  # one job at a time
    assert again["new"] is False and again["id"] == started.json()["id"]
    job = _wait_done(client)
    assert job["state"] == "done", job["log_tail"]
    assert job["report"] == "/reports/latest"
    page = client.get("/reports/latest", headers=READ)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Temporal split at" in page.text and "data:image/png;base64," in page.text
    # the figures are the protocol's on the store: the active version's model and settings
    record = json.loads((tmp_path / "models" / "reports" / job["id"] / "results.json").read_text())
    split, _ = SplitSpec("temporal").apply(Dataset.from_store(store))
    expected = run_model("itemknn", split, config={"k": 30}, rng=0).test
    got = {run["model"]: run["test"] for run in record["runs"]}
    assert set(got) == {"popularity", "itemknn"} and got["itemknn"] == expected
