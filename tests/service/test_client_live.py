"""The Python client (cartwise.client) against a real uvicorn server on loopback, over the tiny
store of conftest.py (whose answers are worked out there): every endpoint, and every error the
service can be made to give, as the typed exception."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from live_server import LiveServer, free_port, start_server
from lossy_proxy import lossy_proxy

from cartwise import errors
from cartwise.client import (
    AdCandidate,
    ApiAuthError,
    ApiConnectionError,
    ApiInputError,
    ApiModelError,
    ApiNotFoundError,
    AsyncClient,
    Client,
    Event,
    FeedbackEvent,
    Item,
    RetryPolicy,
    SessionEvent,
    User,
    endpoints,
    endpoints_experiments,
    endpoints_lists,
    endpoints_versions,
)
from cartwise.client.call import Route
from cartwise.data.store import Store
from cartwise.service.schemas import HealthOut, OnlineRow, RecommendationsOut
from cartwise.serving.engine import Engine
from conftest import T0, build_tiny

pytestmark = pytest.mark.slow  # starts uvicorn servers (seconds each)

FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01, jitter=False)
KEYS = {
    "admin-key": ["admin"],
    "read-key": ["read"],
    "write-key": ["write"],
    "shop-key": ["storefront"],
}


@dataclass
class Live:
    url: str
    version: str
    server: LiveServer


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("client-live")
    store = Store.open(root / "shop.db")
    build_tiny(store)
    version = Engine(store, root / "models").train("itemknn", {"k": 100, "shrink": 0.0}, rng=0)
    store.close()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CARTWISE_SEARCH_MODE", "keyword")  # BM25: known answers, no encoder
        server = start_server(root / "shop.db", root / "models", root, api_keys=KEYS)
    yield Live(server.url, version, server)
    server.stop()


@pytest.fixture
def admin(live: Live) -> Iterator[Client]:
    with Client(live.url, api_key="admin-key") as c:
        yield c


def _ids(answer: RecommendationsOut) -> list[str]:
    return [r.item_id for r in answer.items]


def _row(client: Client, scenario: str) -> OnlineRow:
    rows = client.feedback_metrics().rows
    return next(r for r in rows if r.scenario == scenario)


def test_the_client_covers_every_route_of_the_service(live: Live) -> None:
    spec = httpx.get(live.url + "/openapi.json").json()
    served = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    routes = {
        (v.method, v.path)
        for module in (endpoints, endpoints_lists, endpoints_versions, endpoints_experiments)
        for v in vars(module).values()
        if isinstance(v, Route)
    }
    assert served == routes


def test_status_endpoints(admin: Client, live: Live) -> None:
    assert admin.health() == HealthOut(status="ok")
    assert Client(live.url).health().status == "ok"  # no key needed
    ready = Client(live.url).ready()
    assert ready.ready is True and ready.model_version == live.version
    assert admin.models().versions == [live.version]
    assert admin.models().active == live.version
    stats = admin.stats()
    assert stats.store["items"] == 9 and stats.model_version == live.version
    assert "validation" in stats.model_info
    assert "cartwise_model_ready 1" in admin.metrics()


def test_recommendation_lists(live: Live) -> None:
    with Client(live.url, api_key="read-key") as c:
        cold = c.recommend_user("never-seen", k=3)
        assert _ids(cold) == ["p4", "p1", "p3"]
        assert cold.items[0].score == pytest.approx(1.0) and cold.items[0].item.title == "Phone X"
        assert cold.model_version == live.version and len(cold.recommendation_id or "") == 32
        assert _ids(c.recommend_user("u3", k=3)) == ["p6", "p1", "p3"]
        assert _ids(c.recommend_user("u3", k=3, exclude_purchased=False)) == ["p6", "p4", "p5"]
        assert _ids(c.recommend_user("nobody", k=10, category="sports", min_price=30)) == [
            "p1", "p2", "p7",
        ]  # fmt: skip
        assert _ids(c.recommend_user("nobody", k=10, type="article")) == ["a1"]
        capped = c.recommend_user("nobody", k=4, diversity="category_cap", max_per_category=1)
        assert _ids(capped) == ["p4", "p1", "p3", "p5"]
        assert c.recommend_user("nobody", k=2, log=False).recommendation_id is None
        session = c.recommend_session([SessionEvent(item_id="p4")], k=2)
        assert _ids(session) == ["p5", "p6"] and session.scenario == "session"
        similar = c.similar("p4", k=5)
        assert _ids(similar) == ["p5", "p6"] and similar.items[0].reason == "similar to 'Phone X'"
        together = c.complements("p4")
        assert _ids(together) == ["p5"] and together.items[0].details["lift"] == 2.0
        assert _ids(c.complements("p4", window_days=60, min_support=1)) == ["p5", "p6"]


def test_search_and_ads(live: Live) -> None:
    with Client(live.url, api_key="read-key") as c:
        assert set(_ids(c.search("running shoes"))) == {"p1", "p2", "p3", "a1"}
        assert _ids(c.search("running shoes", type="article")) == ["a1"]
        assert _ids(c.search("running", max_price=50)) == ["p3"]
        mine = c.search("running shoes", user_id="u1", personalization=1.0)
        assert _ids(mine) == ["p3", "p1", "p2", "a1"]
        candidates = [
            AdCandidate(item_id="p3", bid=1.0),
            AdCandidate(item_id="p7", bid=100.0),
            AdCandidate(item_id="p8", bid=5.0),
            AdCandidate(item_id="p4", bid=2.0),
        ]
        ads = c.rank_ads("u1", candidates, relevance_floor=0)
        assert [a.item_id for a in ads.ranked] == ["p7", "p3", "p4"]
        assert [(r.item_id, r.reason) for r in ads.rejected] == [("p8", "unavailable")]
        floored = c.rank_ads("u1", candidates)
        assert [a.item_id for a in floored.ranked] == ["p3"]
        assert floored.ranked[0].relevance == pytest.approx(7 / 8)


def test_feedback_is_stored_once_and_counted(live: Live) -> None:
    with Client(live.url, api_key="read-key") as reader, Client(live.url, "write-key") as w:
        before = _row(reader, "similar") if _has(reader, "similar") else None
        answer = reader.similar("p4", k=2)
        rec = answer.recommendation_id
        assert rec is not None
        events = [FeedbackEvent(recommendation_id=rec, item_id=i, kind="impression")
                  for i in _ids(answer)]  # fmt: skip
        events.append(FeedbackEvent(recommendation_id=rec, item_id="p5", kind="click"))
        first = w.send_feedback(events)
        assert (first.stored, first.duplicates) == (3, 0)
        again = w.send_feedback(events)
        assert (again.stored, again.duplicates) == (0, 3)
        after = _row(reader, "similar")
        shown = after.impressions - (before.impressions if before else 0)
        clicked = after.clicks - (before.clicks if before else 0)
        assert (shown, clicked) == (2, 1)


def _has(client: Client, scenario: str) -> bool:
    return any(r.scenario == scenario for r in client.feedback_metrics().rows)


def test_catalog_shoppers_and_events(live: Live) -> None:
    with Client(live.url, api_key="write-key") as w, Client(live.url, "read-key") as r:
        assert w.put_items([Item(id="k1", title="Key Ring", price=5.0)]).upserted == 1
        assert r.get_item("k1").title == "Key Ring"
        phones = r.list_items(category="Phones")
        assert [i.id for i in phones.items] == ["p4", "p8"] and phones.total == 2
        page = r.list_items(limit=2, offset=1)
        assert [i.id for i in page.items] == ["k1", "p1"] and page.total == 10
        assert w.delete_item("k1").item_id == "k1"
        with pytest.raises(ApiNotFoundError):
            r.get_item("k1")
        assert w.put_users([User(id="c-shopper", attributes={"tier": "gold"})]).upserted == 1
        assert r.get_user("c-shopper").attributes == {"tier": "gold"}
        assert "c-shopper" in [u.id for u in r.list_users(limit=100).users]
        event = Event(event_id="c-e1", user_id="c-shopper", item_id="p7", kind="view",
                      timestamp=T0)  # fmt: skip
        assert w.post_events([event]).inserted == 1
        repeat = w.post_events([event])
        assert (repeat.inserted, repeat.duplicates) == (0, 1)
        assert [e.event_id for e in r.user_events("c-shopper").events] == ["c-e1"]
        assert [e.item_id for e in r.user_events("u3", limit=2).events] == ["p4", "p5"]


def test_admin_routes(admin: Client, live: Live) -> None:
    assert admin.activate(live.version).active == live.version
    with pytest.raises(ApiNotFoundError, match="model version 'nope' is not in"):
        admin.activate("nope")
    removed = admin.delete_user("u5").removed
    assert removed["events"] == 2
    assert admin.user_events("u5").events == []


def test_version_and_report_routes(admin: Client, live: Live) -> None:
    detail = admin.model_version(live.version)
    assert detail.version == live.version and detail.active is True
    with pytest.raises(ApiNotFoundError):
        admin.model_version("nope")
    pruned = admin.prune(keep=5)
    assert pruned.deleted == [] and pruned.kept == [live.version]
    with pytest.raises(ApiNotFoundError):
        admin.rollback()  # one version only: nothing to roll back to
    with pytest.raises(ApiNotFoundError):  # no store report was started on this server
        admin.report_status()


def test_privacy_routes(admin: Client) -> None:
    event = Event(event_id="priv-e1", user_id="priv-shopper", item_id="p2", kind="view",
                  timestamp=T0)  # fmt: skip
    admin.post_events([event])
    exported = admin.export_user("priv-shopper")
    assert [e["event_id"] for e in exported.tables["events"]] == ["priv-e1"]
    deleted = admin.delete_user("priv-shopper")
    assert deleted.removed["events"] == 1
    assert admin.deletions(user_id="priv-shopper").receipts == [deleted.receipt]
    with pytest.raises(ApiNotFoundError, match="already deleted at"):
        admin.delete_user("priv-shopper")


def test_errors_are_typed_with_status_type_message_and_fields(live: Live) -> None:
    with Client(live.url, api_key="admin-key") as c:
        with pytest.raises(ApiNotFoundError) as missing:
            c.get_item("nope")
        assert isinstance(missing.value, errors.NotFoundError)
        assert (missing.value.status, missing.value.type) == (404, "NotFoundError")
        with pytest.raises(ApiInputError) as bad_k:
            c.recommend_user("u1", k=0)
        assert isinstance(bad_k.value, errors.InputError)
        assert (bad_k.value.status, bad_k.value.type) == (422, "ValidationError")
        assert [f.field for f in bad_k.value.fields] == ["k"] and bad_k.value.field == "k"
        unknown = Event(event_id="c-bad", user_id="u1", item_id="zz", kind="view", timestamp=T0)
        ok = Event(event_id="c-ok", user_id="u1", item_id="p1", kind="view", timestamp=T0)
        with pytest.raises(ApiInputError) as batch:
            c.post_events([ok, unknown])
        assert batch.value.type == "BatchError" and batch.value.line == 2
        assert [(f.index, f.field) for f in batch.value.fields] == [(1, "item_id")]
        assert "unknown item 'zz'" in batch.value.message
        with pytest.raises(ApiInputError) as nan:  # NaN reaches the service, which names it
            c.rank_ads("u1", [{"item_id": "p3", "bid": math.nan}])
        assert "NaN is not valid JSON" in nan.value.fields[0].message
        huge = [Item(id=f"h{n}", description="x" * 200) for n in range(6000)]
        with pytest.raises(ApiInputError) as large:
            c.put_items(huge)
        assert (large.value.status, large.value.type) == (413, "PayloadTooLarge")


def test_auth_errors(live: Live) -> None:
    with pytest.raises(ApiAuthError) as anonymous:
        Client(live.url).list_users()
    assert (anonymous.value.status, anonymous.value.type) == (401, "Unauthorized")
    with pytest.raises(ApiAuthError) as wrong:
        Client(live.url, api_key="guess").list_users()
    assert wrong.value.message == "unknown API key; check the key"
    with pytest.raises(ApiAuthError) as reader:
        Client(live.url, api_key="read-key").put_items([Item(id="z")])
    assert (reader.value.status, reader.value.type) == (403, "Forbidden")
    assert "'write'" in reader.value.message


def test_storefront_key_gets_lists_and_feedback_only(live: Live) -> None:
    shop = Client(live.url, api_key="shop-key")
    answer = shop.recommend_user("u3", k=2)
    assert answer.recommendation_id is not None
    done = shop.send_feedback(
        [FeedbackEvent(recommendation_id=answer.recommendation_id, item_id="p6", kind="click")]
    )
    assert (done.stored, done.implied_impressions) == (1, 1)
    for denied in (
        lambda: shop.get_user("u3"),
        lambda: shop.user_events("u3"),
        lambda: shop.list_items(),
        lambda: shop.search("phone"),
        lambda: shop.feedback_metrics(),
        lambda: shop.put_items([Item(id="z")]),
        lambda: shop.stats(),
    ):
        with pytest.raises(ApiAuthError) as refused:
            denied()
        assert refused.value.status == 403


def test_no_model_is_a_503_model_error(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "empty.db")
    build_tiny(store)
    store.close()
    server = start_server(tmp_path / "empty.db", tmp_path / "models", tmp_path, api_keys=KEYS)
    try:
        with Client(server.url, api_key="read-key") as c:
            ready = c.ready()  # a 503 with the readiness body: an answer, not an error
            assert ready.ready is False and ready.model_version is None
            with pytest.raises(ApiModelError) as no_model:
                c.recommend_user("u1")
            assert isinstance(no_model.value, errors.ModelError)
            assert (no_model.value.status, no_model.value.type) == (503, "ModelError")
            assert "cartwise train" in no_model.value.message
    finally:
        server.stop()


def test_async_client(live: Live) -> None:
    async def run() -> tuple[list[str], int, str]:
        async with AsyncClient(live.url, api_key="admin-key") as c:
            assert (await c.health()).status == "ok"
            answer = await c.similar("p4", k=5)
            assert answer.recommendation_id is not None
            event = FeedbackEvent(
                recommendation_id=answer.recommendation_id, item_id="p5", kind="impression"
            )
            stored = (await c.send_feedback([event])).stored
            try:
                await c.get_item("nope")
            except ApiNotFoundError as exc:
                return _ids(answer), stored, exc.type
            raise AssertionError("no error for an unknown item")

    assert asyncio.run(run()) == (["p5", "p6"], 1, "NotFoundError")


def test_feedback_retried_after_a_lost_answer_is_counted_once(live: Live) -> None:
    reader = Client(live.url, api_key="read-key")
    answer = reader.complements("p4", window_days=60, min_support=1)
    rec = answer.recommendation_id
    assert rec is not None and _ids(answer) == ["p5", "p6"]
    events = [FeedbackEvent(recommendation_id=rec, item_id=i, kind="impression")
              for i in _ids(answer)]  # fmt: skip
    with lossy_proxy(live.url, {("POST", "/feedback"): 1}) as proxy:
        done = Client(proxy.url, api_key="write-key", retry=FAST_RETRY).send_feedback(events)
    assert proxy.seen[("POST", "/feedback")] == 2  # the lost answer, then the retry
    # the first post was stored; the retry found both events there
    assert (done.stored, done.duplicates) == (0, 2)
    assert _row(reader, "complements").impressions == 2


def test_events_retried_after_a_lost_answer_are_stored_once(live: Live) -> None:
    event = Event(event_id="c-lost", user_id="c-retry", item_id="p2", kind="view", timestamp=T0)
    with lossy_proxy(live.url, {("POST", "/events"): 2}) as proxy:
        done = Client(proxy.url, api_key="write-key", retry=FAST_RETRY).post_events([event])
    assert proxy.seen[("POST", "/events")] == 3
    assert (done.inserted, done.duplicates) == (0, 1)
    assert len(Client(live.url, "read-key").user_events("c-retry").events) == 1


def test_a_delete_whose_answer_is_lost_is_not_repeated(live: Live) -> None:
    Client(live.url, api_key="write-key").put_items([Item(id="k-lost", title="Lost")])
    with lossy_proxy(live.url, {("DELETE", "/items/k-lost"): 1}) as proxy:
        lossy = Client(proxy.url, api_key="write-key", retry=FAST_RETRY)
        with pytest.raises(ApiConnectionError, match="after 1 try") as lost:
            lossy.delete_item("k-lost")
    assert lost.value.status is None
    assert proxy.seen[("DELETE", "/items/k-lost")] == 1
    with pytest.raises(ApiNotFoundError):  # it was deleted all the same
        Client(live.url, api_key="read-key").get_item("k-lost")


def test_no_server_is_a_connection_error_after_the_retries() -> None:
    nowhere = Client(f"http://127.0.0.1:{free_port()}", retry=FAST_RETRY, timeout=2.0)
    with pytest.raises(ApiConnectionError, match="after 3 tries") as refused:
        nowhere.health()
    assert refused.value.type == "ConnectError"


def test_experiment_routes(admin: Client, live: Live) -> None:
    variants = [{"name": "a"}, {"name": "b", "model_version": live.version, "weight": 2.0}]
    created = admin.create_experiment("live-exp", variants, scenarios=["session"], salt="s")
    assert created.experiment.status == "running"
    assert [v.weight for v in created.experiment.variants] == [1.0, 2.0]
    answer = admin.recommend_session([SessionEvent(item_id="p4")], k=3, session_id="sess-1")
    assert answer.experiment == "live-exp" and answer.variant in ("a", "b")
    item = answer.items[0].item_id
    admin.send_feedback([FeedbackEvent(recommendation_id=answer.recommendation_id or "",
                                       item_id=item, kind="purchase", value=3.0)])  # fmt: skip
    report = admin.experiment("live-exp", k=5)
    (session,) = report.scenarios
    row = next(v for v in session.variants if v.variant == answer.variant)
    assert (row.answers, row.impressions, row.purchases, row.revenue) == (1, 1, 1, 3.0)
    assert [e.experiment.id for e in admin.experiments(running=True).experiments] == ["live-exp"]
    with pytest.raises(ApiInputError, match="unknown model version"):
        admin.create_experiment("bad", [{"name": "a"}, {"name": "b", "model_version": "x"}])
    assert admin.stop_experiment("live-exp").experiment.status == "stopped"
    assert admin.experiments(running=True).experiments == []
