"""A/B tests over HTTP: two model versions split shoppers by a salted hash; every answer and
its served-log row name the variant; feedback shows up in the right variant's counts."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from cartwise.data.tables import served
from cartwise.evaluation.online import assign_variant
from cartwise.serving.engine import Engine
from conftest import make_client

SALT = "salt-1"
SHOPPERS = [f"s{i}" for i in range(40)]


def _two_versions(engine: Engine) -> tuple[str, str]:
    first = engine.active_version()
    assert first is not None
    second = engine.train("popularity", {}, rng=0, activate=False)
    return first, second


def _create(client: TestClient, a: str, b: str, **extra: Any) -> dict[str, Any]:
    body = {
        "id": "exp1",
        "description": "itemknn vs popularity",
        "variants": [
            {"name": "control", "model_version": a, "weight": 0.5},
            {"name": "treatment", "model_version": b, "weight": 0.5},
        ],
        "salt": SALT,
        "planned_impressions": 1000,
    } | extra
    r = client.post("/experiments", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_experiment_routes_serve_and_count(engine: Engine) -> None:
    a, b = _two_versions(engine)
    versions = {"control": a, "treatment": b}
    with make_client(engine) as client:
        created = _create(client, a, b)
        assert created["experiment"]["status"] == "running"
        assert created["experiment"]["variants"][1]["model_version"] == b
        expected: Counter[str] = Counter()
        feedback = []
        for shopper in SHOPPERS:
            want = ["control", "treatment"][assign_variant(SALT, shopper, [0.5, 0.5])]
            expected[want] += 1
            body = client.get(f"/users/{shopper}/recommendations", params={"k": 3}).json()
            assert (body["experiment"], body["variant"]) == ("exp1", want)
            assert body["model_version"] == versions[want]
            # the same shopper gets the same variant again
            again = client.get(f"/users/{shopper}/recommendations", params={"k": 3}).json()
            assert again["variant"] == want
            rec, items = body["recommendation_id"], [i["item_id"] for i in body["items"]]
            feedback += [{"recommendation_id": rec, "item_id": i, "kind": "impression"}
                         for i in items[:2]]  # fmt: skip
            if want == "control":
                feedback.append({"recommendation_id": rec, "item_id": items[0], "kind": "click"})
            else:
                feedback.append({"recommendation_id": rec, "item_id": items[1],
                                 "kind": "purchase", "value": 12.5})  # fmt: skip
                feedback.append({"recommendation_id": rec, "item_id": items[1],
                                 "kind": "add_to_cart"})  # fmt: skip
        assert client.post("/feedback", json={"events": feedback}).status_code == 200
        assert min(expected.values()) > 5  # both variants were served

        r = client.get("/experiments/exp1")
        assert r.status_code == 200, r.text
        report = r.json()
        (user,) = [s for s in report["scenarios"] if s["scenario"] == "user"]
        assert user["sequential"]  # fewer than 1000 impressions per variant so far
        rows = {v["variant"]: v for v in user["variants"]}
        for name, row in rows.items():
            n = expected[name]
            assert row["answers"] == 2 * n and row["units"] == n
            assert row["impressions"] == 2 * n
        assert rows["control"]["clicks"] == expected["control"]
        assert rows["control"]["purchases"] == 0 and rows["control"]["revenue"] == 0
        assert rows["treatment"]["clicks"] == 0
        assert rows["treatment"]["purchases"] == expected["treatment"]
        assert rows["treatment"]["add_to_carts"] == expected["treatment"]
        assert rows["treatment"]["revenue"] == 12.5 * expected["treatment"]
        metrics = {m["name"]: m for m in rows["treatment"]["metrics"]}
        assert metrics["ctr@10"]["value"] == 0.0
        assert metrics["purchase_rate"]["value"] == 0.5
        assert metrics["revenue_per_1000"]["value"] == 1000 * 12.5 / 2
        assert metrics["ctr@10"]["effect"] == -0.5 and metrics["ctr@10"]["verdict"] == "worse"
        assert metrics["purchase_rate"]["verdict"] == "better"
        control = {m["name"]: m for m in rows["control"]["metrics"]}
        assert control["ctr@10"]["value"] == 0.5 and control["ctr@10"]["effect"] is None

        listed = client.get("/experiments").json()["experiments"]
        assert [e["experiment"]["id"] for e in listed] == ["exp1"]

        # the served log records the variant
        with engine.store.engine.connect() as conn:
            logged = conn.execute(
                select(served.c.user_id, served.c.experiment_id, served.c.variant)
            ).all()
        assert {(u, e, v) for u, e, v in logged} == {
            (s, "exp1", ["control", "treatment"][assign_variant(SALT, s, [0.5, 0.5])])
            for s in SHOPPERS
        }

        # anonymous sessions are assigned by session id
        session = {"events": [{"item_id": "p4", "kind": "view"}], "session_id": "sess-9"}
        body = client.post("/sessions/recommendations", json=session).json()
        want = ["control", "treatment"][assign_variant(SALT, "sess-9", [0.5, 0.5])]
        assert (body["variant"], body["model_version"]) == (want, versions[want])
        without = client.post("/sessions/recommendations", json={"events": session["events"]})
        assert without.json()["variant"] is None

        stopped = client.post("/experiments/exp1/stop")
        assert stopped.status_code == 200 and stopped.json()["experiment"]["status"] == "stopped"
        assert client.post("/experiments/exp1/stop").status_code == 409
        after = client.get("/users/s1/recommendations").json()
        assert after["variant"] is None and after["model_version"] == engine.active_version()


def test_bad_experiments_are_refused(engine: Engine) -> None:
    a, b = _two_versions(engine)
    with make_client(engine) as client:
        variants = [{"name": "a", "model_version": a}, {"name": "b", "model_version": "nope"}]
        r = client.post("/experiments", json={"id": "x", "variants": variants})
        assert r.status_code == 422 and "unknown model version 'nope'" in r.text
        r = client.post("/experiments", json={"id": "x", "variants": [
            {"name": "a"}, {"name": "b", "settings": {"diversity": "lots"}}]})  # fmt: skip
        assert r.status_code == 422 and "setting 'diversity' must be" in r.text
        _create(client, a, b)
        r = client.post("/experiments", json={"id": "other", "variants": [
            {"name": "a"}, {"name": "b"}], "scenarios": ["user"]})  # fmt: skip
        assert r.status_code == 409 and "exp1" in r.text
        assert client.post("/experiments", json={"id": "exp1", "variants": [
            {"name": "a"}, {"name": "b"}], "scenarios": ["user"]}).status_code == 409  # fmt: skip
        assert client.get("/experiments/none").status_code == 404


def test_variant_settings_apply(engine: Engine) -> None:
    """A variant without a model version serves the active one with its own settings."""
    with make_client(engine) as client:
        r = client.post("/experiments", json={"id": "div", "salt": SALT, "variants": [
            {"name": "plain", "weight": 0}, {"name": "capped",
             "settings": {"diversity": "category_cap", "max_per_category": 1}}]})  # fmt: skip
        assert r.status_code == 201, r.text
        body = client.get("/users/u3/recommendations", params={"k": 5}).json()
        assert body["variant"] == "capped"
        cats = [tuple(i["item"]["category"]) for i in body["items"]]
        assert len(cats) == len(set(cats))
