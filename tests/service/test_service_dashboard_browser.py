"""The dashboard in a real browser (Debian's chromium driven by Playwright) on a live server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_server import LiveServer, start_server

from cartwise.data.schema import EventKind
from cartwise.data.sources.demo import DemoConfig, build_demo_store
from cartwise.data.store import Store
from cartwise.serving.engine import Engine
from conftest import ARTIFACTS

pytestmark = pytest.mark.slow


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[LiveServer, Store]]:
    store = Store.open(tmp_path / "shop.db")
    build_demo_store(store, DemoConfig(seed=3, n_items=300, n_users=200, days=30))
    engine = Engine(store, tmp_path / "models")
    version = engine.train("itemknn", rng=0)
    info_path = tmp_path / "models" / version / "metrics.json"
    info = json.loads(info_path.read_text())
    info["test"] = {"ndcg@10": 0.1234, "hr@10": 0.2345}  # as an evaluation run would add
    info_path.write_text(json.dumps(info))
    server = start_server(tmp_path / "shop.db", tmp_path / "models", tmp_path)
    yield server, store
    server.stop()


def test_dashboard_shows_store_model_shopper_and_search(
    demo_server: tuple[LiveServer, Store], browser: Any, expect: Any
) -> None:
    server, store = demo_server
    buyers = store.events_frame(kinds=[EventKind.PURCHASE])["user_id"]
    shopper = sorted(buyers.unique())[0]
    rec = httpx.get(f"{server.url}/users/{shopper}/recommendations?k=4").json()
    feedback = [
        {"recommendation_id": rec["recommendation_id"], "item_id": i["item_id"], "kind": kind}
        for i, kind in zip(rec["items"], ["impression"] * 4, strict=True)
    ] + [
        {
            "recommendation_id": rec["recommendation_id"],
            "item_id": rec["items"][0]["item_id"],
            "kind": "click",
        }
    ]
    assert httpx.post(f"{server.url}/feedback", json={"events": feedback}).status_code == 200

    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(server.url + "/")
    expect(page.locator("#item-count")).to_have_text("300")
    expect(page.locator("#model-version")).to_contain_text("itemknn-")
    expect(page.locator("#model-metrics")).to_contain_text("test.ndcg@10")
    expect(page.locator("#model-metrics")).to_contain_text("0.1234")
    expect(page.locator("#online tbody tr")).to_have_count(1)
    expect(page.locator("#online tbody")).to_contain_text("25.0%")

    page.select_option("#shopper-select", shopper)
    expect(page.locator("#recs li")).to_have_count(10)
    expect(page.locator("#recs li").first.locator(".reason")).not_to_be_empty()
    assert page.locator("#history li").count() > 0
    first_id = page.locator("#recs li").first.get_attribute("data-item-id")
    api_first = httpx.get(f"{server.url}/users/{shopper}/recommendations?k=10").json()
    assert first_id == api_first["items"][0]["item_id"]

    page.fill("#search-input", "running shoes")
    page.click("#search-form button")
    # a fresh server builds its search index (sentence encoder) in the background
    expect(page.locator("#search-results li").first).to_contain_text(
        "Running Shoes", timeout=60_000
    )
    expect(page.locator("#error")).to_be_hidden()
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


def test_dashboard_lists_running_experiments(
    demo_server: tuple[LiveServer, Store], tmp_path: Path, browser: Any, expect: Any
) -> None:
    """Two versions split the shoppers; the experiments section shows each variant's metrics,
    intervals and the verdict against the control."""
    server, store = demo_server
    engine = Engine(store, tmp_path / "models")
    control = engine.active_version()
    treatment = engine.train("popularity", rng=0, activate=False)
    body = {
        "id": "knn-vs-pop",
        "description": "itemknn against popularity",
        "variants": [
            {"name": "knn", "model_version": control},
            {"name": "pop", "model_version": treatment},
        ],
        "scenarios": ["user"],
        "planned_impressions": 200,  # more than either variant gets: read sequentially
    }
    created = httpx.post(f"{server.url}/experiments", json=body)
    assert created.status_code == 201, created.text
    feedback = []
    for shopper in sorted(store.events_frame()["user_id"].unique())[:40]:
        rec = httpx.get(f"{server.url}/users/{shopper}/recommendations?k=4").json()
        rid, items = rec["recommendation_id"], [i["item_id"] for i in rec["items"]]
        feedback += [{"recommendation_id": rid, "item_id": i, "kind": "impression"} for i in items]
        if rec["variant"] == "pop":
            feedback.append({"recommendation_id": rid, "item_id": items[0], "kind": "click"})
    assert httpx.post(f"{server.url}/feedback", json={"events": feedback}).status_code == 200

    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.goto(server.url + "/")
    section = page.locator('#experiments [data-experiment-id="knn-vs-pop"]')
    expect(section).to_contain_text("itemknn against popularity")
    expect(section.locator("tbody tr")).to_have_count(2)
    expect(section.locator('tr[data-variant="knn"]')).to_contain_text("(control)")
    expect(section.locator('tr[data-variant="knn"]')).to_contain_text("0.00%")
    pop = section.locator('tr[data-variant="pop"]')
    expect(pop).to_contain_text(treatment)
    expect(pop.locator('td[data-metric="ctr@10"] .verdict')).to_have_text("better")
    expect(section).to_contain_text("sequential (always-valid)")
    expect(page.locator("#error")).to_be_hidden()
    page.screenshot(path=str(ARTIFACTS / "dashboard-experiments.png"), full_page=True)


def test_operator_sees_versions_charts_and_coverage_and_can_switch_versions(
    demo_server: tuple[LiveServer, Store], tmp_path: Path, browser: Any, expect: Any
) -> None:
    """The operator's view: versions with offline and online figures and activate / roll
    back buttons, CTR and conversion per day and scenario as charts, catalog coverage."""
    from sqlalchemy import update

    from cartwise.data import tables as t

    server, store = demo_server
    engine = Engine(store, tmp_path / "models")
    first = engine.active_version()
    second = engine.train("popularity", rng=0, activate=False)
    shoppers = sorted(store.events_frame()["user_id"].unique())[:6]
    shown: set[str] = set()
    for n, shopper in enumerate(shoppers):
        rec = httpx.get(f"{server.url}/users/{shopper}/recommendations?k=4").json()
        rid, items = rec["recommendation_id"], [i["item_id"] for i in rec["items"]]
        shown.update(items)
        events = [{"recommendation_id": rid, "item_id": i, "kind": "impression"} for i in items]
        events.append({"recommendation_id": rid, "item_id": items[0], "kind": "click"})
        if n % 3 == 0:
            events.append({"recommendation_id": rid, "item_id": items[0], "kind": "purchase"})
        assert httpx.post(f"{server.url}/feedback", json={"events": events}).status_code == 200
        with store.engine.begin() as conn:  # three days of serving, two answers a day
            conn.execute(
                update(t.served)
                .where(t.served.c.recommendation_id == rid)
                .values(ts=t.served.c.ts - (n // 2) * 86_400)
            )

    page = browser.new_page(viewport={"width": 1280, "height": 1800})
    page.goto(server.url + "/")
    rows = page.locator("#versions tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator(f'#versions tr[data-version="{first}"]')).to_contain_text("active")
    expect(page.locator(f'#versions tr[data-version="{first}"] .online-ctr')).to_have_text("25.00%")
    line = page.locator('#chart-ctr-scenario polyline[data-series="user"]')
    expect(line).to_have_attribute("data-points", "3")
    expect(line.locator("title")).to_contain_text("25.00%")
    conv = page.locator('#chart-conversion-scenario polyline[data-series="user"]')
    expect(conv).to_have_attribute("data-points", "3")
    expect(page.locator("#coverage")).to_have_text(f"{100 * len(shown) / 300:.1f}%")
    expect(page.locator("#coverage-detail")).to_contain_text("of 300 items")
    page.screenshot(path=str(ARTIFACTS / "dashboard-operator.png"), full_page=True)

    page.locator(f'#versions tr[data-version="{second}"] button.activate').click()
    expect(page.locator("#model-version")).to_have_text(second)
    expect(page.locator(f'#versions tr[data-version="{second}"]')).to_contain_text("active")
    assert httpx.get(f"{server.url}/models").json()["active"] == second
    page.locator("#rollback").click()
    expect(page.locator("#model-version")).to_have_text(first)
    assert httpx.get(f"{server.url}/models").json()["active"] == first
    expect(page.locator("#error")).to_be_hidden()
