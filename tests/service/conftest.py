"""A tiny hand-made store whose recommendations can be worked out by hand.

Items (catalog order = id order): a1 (article), p1..p8. Events (all in January 2024):

    u1: view p1, view p2, purchase p1
    u2: view p1, view p3, purchase p3
    u3: view p4, purchase p4, purchase p5 (+1 day)
    u4: view p4, purchase p4, purchase p5 (+2 days), purchase p6 (+40 days)
    u5: view p2, view p3
    u6: view p8, view p4

Interaction counts: p4 5, p1 3, p3 3, p2 2, p5 2, p6 1, p7 0, p8 1, a1 0.
Users per item: p4 {u3, u4, u6}, p5 {u3, u4}, p6 {u4}, p8 {u6}, so with ItemKNN (cosine, no
shrink) a history [p4] scores p5 = 2/√6 ≈ 0.816, p6 = p8 = 1/√3 ≈ 0.577 and nothing else.
p8 is unavailable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartwise.config import Settings
from cartwise.data.schema import Event, EventKind, Item
from cartwise.data.store import Store
from cartwise.service.app import create_app
from cartwise.serving.engine import Engine

#: Debian's chromium (scripts/install-browser.sh), driven by Playwright for the browser tests.
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"  # screenshots

T0 = datetime(2024, 1, 1, tzinfo=UTC)
LOCAL = ("127.0.0.1", 50000)


def tiny_items() -> list[Item]:
    """The catalog of the tiny store."""
    shoes = ["Sports", "Running Shoes"]
    phones = ["Electronics", "Phones"]
    return [
        Item(
            id="a1",
            title="How to choose running shoes",
            category=["Guides"],
            attributes={"type": "article"},
        ),
        Item(id="p1", title="Trail Running Shoe", category=shoes, brand="Acme", price=100),
        Item(id="p2", title="Road Running Shoe", category=shoes, brand="Acme", price=80),
        Item(id="p3", title="Running Socks", category=["Sports", "Socks"], price=10),
        Item(id="p4", title="Phone X", category=phones, brand="Fonix", price=500),
        Item(id="p5", title="Phone X Case", category=["Electronics", "Phone Cases"], price=20),
        Item(id="p6", title="Charger", category=["Electronics", "Chargers"], price=30),
        Item(id="p7", title="Yoga Mat", category=["Sports", "Yoga"], price=40),
        Item(id="p8", title="Old Phone", category=phones, price=200, available=False),
    ]


_SCRIPT: list[tuple[str, str, str, float]] = [
    ("u1", "view", "p1", 0),
    ("u1", "view", "p2", 1),
    ("u1", "purchase", "p1", 2),
    ("u2", "view", "p1", 0),
    ("u2", "view", "p3", 1),
    ("u2", "purchase", "p3", 2),
    ("u3", "view", "p4", 0),
    ("u3", "purchase", "p4", 0.1),
    ("u3", "purchase", "p5", 1.1),
    ("u4", "view", "p4", 0),
    ("u4", "purchase", "p4", 0.1),
    ("u4", "purchase", "p5", 2.1),
    ("u4", "purchase", "p6", 40.1),
    ("u5", "view", "p2", 3),
    ("u5", "view", "p3", 4),
    ("u6", "view", "p8", 0),
    ("u6", "view", "p4", 1),
]


def tiny_events() -> list[Event]:
    """The events of the tiny store (times are days after :data:`T0`)."""
    return [
        Event(
            event_id=f"e{n}",
            user_id=u,
            item_id=i,
            kind=EventKind(k),
            timestamp=T0 + timedelta(days=d),
        )
        for n, (u, k, i, d) in enumerate(_SCRIPT)
    ]


def build_tiny(store: Store) -> None:
    """Write the tiny catalog and events."""
    store.upsert_items(tiny_items())
    store.append_events(tiny_events())


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """The tiny store, once on SQLite and once on PostgreSQL (see tests/conftest.py)."""
    s = Store.open(store_url)
    build_tiny(s)
    yield s
    s.close()


@pytest.fixture
def engine(store: Store, tmp_path: Path) -> Engine:
    """An engine over the tiny store with ItemKNN (k=100, no shrink) active."""
    e = Engine(store, tmp_path / "models")
    e.train("itemknn", {"k": 100, "shrink": 0.0}, rng=0)
    return e


def make_client(engine: Engine, **settings: object) -> TestClient:
    """A TestClient on loopback over `engine` with the given settings (no keys: the
    ``insecure_local`` mode, unless the settings say otherwise)."""
    settings.setdefault("insecure_local", True)
    return TestClient(create_app(engine, Settings(**settings)), client=LOCAL)  # type: ignore[arg-type]


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    """Open (no keys) loopback client over the tiny store."""
    with make_client(engine) as c:
        yield c


@pytest.fixture
def client_with(engine: Engine) -> Callable[..., TestClient]:
    """Factory of loopback clients over the tiny store with other settings."""

    def make(**settings: object) -> TestClient:
        return make_client(engine, **settings)

    return make


def recs(client: TestClient, user: str, **params: Any) -> dict[str, Any]:
    """GET the shopper's recommendations (query `params`), asserting a 200."""
    r = client.get(f"/users/{user}/recommendations", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def ids(body: dict[str, Any]) -> list[str]:
    """The item ids of a recommendation answer, in order."""
    return [i["item_id"] for i in body["items"]]


def post_view(client: TestClient, event_id: str, user: str, item: str) -> None:
    """POST one view event (1 March 2024, after every tiny event) and assert it was stored."""
    event = {
        "event_id": event_id,
        "user_id": user,
        "item_id": item,
        "kind": "view",
        "timestamp": "2024-03-01T12:00:00Z",
    }
    assert client.post("/events", json={"events": [event]}).json()["inserted"] == 1


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless chromium (Playwright's Browser), closed after the test; skips the test when
    chromium or Playwright is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"chromium is not installed at {CHROMIUM}; run scripts/install-browser.sh")
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def expect(browser: Any) -> Any:
    """Playwright's retrying assertions (``expect(locator).to_have_text(...)``)."""
    return pytest.importorskip("playwright.sync_api").expect
