"""The storefront widget in a real browser (Debian's chromium driven by Playwright): a sample
shop, served by the test on its own origin, loads /widget.js from a live Cartwise server (keyed,
CORS for the shop's origin) with a storefront key. Impressions are sent only once the list is on
screen, a lost answer is retried, scrolling back and forth and reloading send nothing twice,
the click survives the page it was made on, and the counts show on the dashboard."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from live_server import LiveServer, free_port, start_server
from lossy_proxy import LossyProxy, lossy_proxy

from cartwise.client import Client
from cartwise.data.store import Store
from cartwise.service.schemas import OnlineRow
from cartwise.serving.engine import Engine
from conftest import ARTIFACTS, build_tiny

pytestmark = pytest.mark.slow


KEYS = {"shop-key": ["storefront"], "admin-key": ["admin"]}
FOR_U3 = ["p6", "p1", "p3"]  # u3's top 3 (conftest.py): what the home page shows

HOME = """<!doctype html><html lang="en-US"><head><meta charset="utf-8"><title>Tiny Shop</title>
<script src="{api}/widget.js" data-api-key="shop-key"></script></head>
<body><h1>Tiny Shop</h1><div id="spacer" style="height: 2400px">Scroll down</div>
<section id="for-you"></section>
<script>Cartwise.render(document.getElementById("for-you"), {{scenario: "for_you",
  userId: "u3", k: 3, itemUrl: "/product/{{id}}", heading: "Picked for you"}});</script>
</body></html>"""

PRODUCT = """<!doctype html><html lang="en-US"><head><meta charset="utf-8"><title>{id}</title>
<script src="{api}/widget.js" data-api-key="shop-key"></script></head>
<body><h1 id="product">Product {id}</h1><div style="height: 2400px"></div>
<div id="similar" data-cartwise="similar" data-item-id="{id}" data-k="3"
  data-heading="You may also like"></div>
</body></html>"""


@dataclass
class Shop:
    url: str
    api: LiveServer
    proxy: LossyProxy


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    """The shop's pages on one port; the service on another, reached by the pages through a
    proxy that loses the answer to the first feedback post (the service stores it, the page
    sees a dropped connection)."""
    store = Store.open(tmp_path / "shop.db")
    build_tiny(store)
    Engine(store, tmp_path / "models").train("itemknn", {"k": 100, "shrink": 0.0}, rng=0)
    store.close()
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CARTWISE_CORS_ORIGINS", json.dumps([origin]))
        env.setenv("CARTWISE_SEARCH_MODE", "keyword")
        api = start_server(tmp_path / "shop.db", tmp_path / "models", tmp_path, api_keys=KEYS)
    with lossy_proxy(api.url, {("POST", "/feedback"): 1}) as proxy:
        pages = _serve_pages(port, proxy.url)
        yield Shop(origin, api, proxy)
        pages.shutdown()
        pages.server_close()
    api.stop()


def _serve_pages(port: int, api: str) -> ThreadingHTTPServer:
    """The shop: its home page and product pages, on its own origin (another port)."""

    class Pages(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/product/"):
                page = PRODUCT.format(api=api, id=self.path.rsplit("/", 1)[1])
            else:
                page = HOME.format(api=api)
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", port), Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _online(api: LiveServer, scenario: str) -> OnlineRow | None:
    rows = Client(api.url, api_key="admin-key").feedback_metrics().rows
    return next((r for r in rows if r.scenario == scenario), None)


def _counts(api: LiveServer) -> tuple[int, int]:
    row = _online(api, "user")
    return (row.impressions, row.clicks) if row else (0, 0)


def _until(page: Any, check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(200)  # lets Playwright deliver the page's events meanwhile


def test_widget_reports_impressions_and_clicks_exactly_once(
    shop: Shop, browser: Any, expect: Any
) -> None:
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    posts = _record_feedback_posts(page)
    _home_page_reports_what_was_seen(page, shop, posts, expect)
    _click_arrives_once(page, shop, posts, expect)
    _reloads_send_nothing_twice(page, shop, posts)
    _dashboard_shows_the_counts(page, shop, expect)


def _record_feedback_posts(page: Any) -> list[list[dict[str, Any]]]:
    """Every feedback batch the page sends (filled while Playwright is called)."""
    posts: list[list[dict[str, Any]]] = []

    def record(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/feedback"):
            posts.append(json.loads(request.post_data)["events"])

    page.on("request", record)
    return posts


def _keys(posts: list[list[dict[str, Any]]]) -> list[tuple[str, str, str]]:
    return [(e["recommendation_id"], e["item_id"], e["kind"]) for batch in posts for e in batch]


def _home_page_reports_what_was_seen(
    page: Any, shop: Shop, posts: list[list[dict[str, Any]]], expect: Any
) -> None:
    page.goto(shop.url + "/")
    items = page.locator("#for-you .cartwise-item")
    expect(items).to_have_count(3)
    assert [items.nth(n).get_attribute("data-item-id") for n in range(3)] == FOR_U3
    expect(page.locator("#for-you .cartwise-heading")).to_have_text("Picked for you")
    expect(items.first.locator(".cartwise-price")).to_have_text("$30.00")  # p6, the charger
    page.wait_for_timeout(2500)  # longer than the widget's flush interval
    assert posts == [] and _counts(shop.api) == (0, 0)  # rendered, but below the fold
    page.screenshot(path=str(ARTIFACTS / "widget-shop-top.png"))

    page.locator("#for-you").scroll_into_view_if_needed()
    _until(page, lambda: len(posts) >= 2 and _pending(page) == {}, "the lost batch sent again")
    assert shop.proxy.seen[("POST", "/feedback")] == 2  # the service got both
    rec = page.locator("#for-you .cartwise-list").get_attribute("data-recommendation-id")
    seen = [(rec, item, "impression") for item in FOR_U3]
    assert sorted(_keys(posts[:1])) == sorted(_keys(posts[1:2])) == sorted(seen)
    assert _counts(shop.api) == (3, 0)
    page.screenshot(path=str(ARTIFACTS / "widget-shop-list.png"))

    misused = page.evaluate(
        "Promise.all([Cartwise.render(document.body, {scenario: 'for_you'}),"
        " Cartwise.render(document.body, {scenario: 'bestsellers'})].map("
        "p => p.catch(e => e.message)))"
    )
    assert misused == [
        "Cartwise: the for_you scenario needs the userId option",
        "Cartwise: unknown scenario 'bestsellers'; use for_you, similar or bought_together",
    ]
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(1200)
    page.locator("#for-you").scroll_into_view_if_needed()
    page.wait_for_timeout(2500)
    assert len(posts) == 2  # seen again: nothing new to send
    assert _counts(shop.api) == (3, 0)


def _pending(page: Any) -> dict[str, Any]:
    queued: dict[str, Any] = json.loads(
        page.evaluate("localStorage.getItem('cartwise:pending') || '{}'")
    )
    return queued


def _click_arrives_once(
    page: Any, shop: Shop, posts: list[list[dict[str, Any]]], expect: Any
) -> None:
    page.locator("#for-you .cartwise-item[data-item-id='p1'] a").click()
    page.wait_for_url(shop.url + "/product/p1")
    expect(page.locator("#product")).to_have_text("Product p1")
    _until(page, lambda: _counts(shop.api) == (3, 1) and _pending(page) == {}, "the click")
    clicks = [k for k in _keys(posts) if k[2] == "click"]
    assert {k[1] for k in clicks} == {"p1"}  # sent on leaving, or by the next page, or both
    similar = page.locator("#similar .cartwise-item")  # rendered from data attributes
    expect(similar).to_have_count(2)
    assert [similar.nth(n).get_attribute("data-item-id") for n in range(2)] == ["p2", "p3"]
    page.screenshot(path=str(ARTIFACTS / "widget-product.png"), full_page=True)


def _reloads_send_nothing_twice(page: Any, shop: Shop, posts: list[list[dict[str, Any]]]) -> None:
    sent = len(posts)
    page.reload()
    page.goto(shop.url + "/")
    page.reload()
    page.wait_for_timeout(2500)
    assert len(posts) == sent  # new answers, never on screen: nothing to report
    assert _counts(shop.api) == (3, 1)
    row = _online(shop.api, "user")
    assert row is not None and row.served == 3  # three home page views, one list each
    similar = _online(shop.api, "similar")
    assert similar is not None and similar.impressions == 0  # below the product page's fold
    seen = json.loads(page.evaluate("localStorage.getItem('cartwise:seen')"))
    assert len(seen) == 4 and _pending(page) == {}


def _dashboard_shows_the_counts(page: Any, shop: Shop, expect: Any) -> None:
    page.goto(shop.api.url + "/")
    page.evaluate("localStorage.setItem('cartwise-api-key', 'admin-key')")
    page.reload()
    expect(page.locator("#online tbody tr")).to_have_count(1)
    expect(page.locator("#online tbody")).to_contain_text("33.3%")  # 1 click / 3 impressions
    page.screenshot(path=str(ARTIFACTS / "widget-dashboard.png"), full_page=True)
