"""The asyncio client: :class:`AsyncClient`, the same methods as :class:`~.sync.Client`, awaited.

>>> async with AsyncClient("http://127.0.0.1:8000", api_key="...") as cartwise:  # doctest: +SKIP
...     answer = await cartwise.similar("sku-1", k=4)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

import httpx

from cartwise.client import endpoints as ep
from cartwise.client import endpoints_experiments as trials
from cartwise.client import endpoints_lists as lists
from cartwise.client import endpoints_versions as versions
from cartwise.client.call import Call
from cartwise.client.retry import RetryPolicy, Wait
from cartwise.client.sync import client_headers, method_signature

P = ParamSpec("P")
T = TypeVar("T")


def _bind(
    build: Callable[P, Call[T]],
) -> Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]]:
    """The coroutine method that builds the call with `build` and sends it."""

    async def method(self: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.send(build(*args, **kwargs))

    method.__name__ = method.__qualname__ = build.__name__
    method.__doc__ = build.__doc__
    method.__signature__ = method_signature(build)  # type: ignore[attr-defined]
    return method


class AsyncClient:
    """An asyncio client of a Cartwise service; arguments as :class:`~.sync.Client`'s (with an
    ``httpx.AsyncBaseTransport``). Retries wait with ``asyncio.sleep``."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = 10.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            headers=client_headers(api_key, headers),
            transport=transport,
        )

    async def send(self, call: Call[T]) -> T:
        """Send `call`, retrying as the policy allows; its answer read into its model."""
        tries = 0
        while True:
            tries += 1
            try:
                response: httpx.Response | httpx.TransportError = await self._http.request(
                    **call.request()
                )
            except httpx.TransportError as exc:
                response = exc
            outcome = self.retry.settle(call, tries, response)
            if not isinstance(outcome, Wait):
                return outcome
            await asyncio.sleep(outcome.seconds)

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    health = _bind(ep.health)
    ready = _bind(ep.ready)
    metrics = _bind(ep.metrics)
    stats = _bind(ep.stats)
    models = _bind(ep.models)
    activate = _bind(ep.activate)
    model_version = _bind(versions.model_version)
    rollback = _bind(versions.rollback)
    prune = _bind(versions.prune)
    start_report = _bind(versions.start_report)
    report_status = _bind(versions.report_status)
    latest_report = _bind(versions.latest_report)
    put_items = _bind(ep.put_items)
    list_items = _bind(ep.list_items)
    get_item = _bind(ep.get_item)
    delete_item = _bind(ep.delete_item)
    put_users = _bind(ep.put_users)
    list_users = _bind(ep.list_users)
    get_user = _bind(ep.get_user)
    user_events = _bind(ep.user_events)
    delete_user = _bind(ep.delete_user)
    export_user = _bind(ep.export_user)
    deletions = _bind(ep.deletions)
    post_events = _bind(ep.post_events)
    recommend_user = _bind(lists.recommend_user)
    recommend_session = _bind(lists.recommend_session)
    similar = _bind(lists.similar)
    complements = _bind(lists.complements)
    search = _bind(lists.search)
    rank_ads = _bind(lists.rank_ads)
    send_feedback = _bind(lists.send_feedback)
    feedback_metrics = _bind(lists.feedback_metrics)
    feedback_timeline = _bind(lists.feedback_timeline)
    catalog_coverage = _bind(lists.catalog_coverage)
    experiments = _bind(trials.experiments)
    experiment = _bind(trials.experiment)
    create_experiment = _bind(trials.create_experiment)
    stop_experiment = _bind(trials.stop_experiment)
