"""The blocking client: :class:`Client`, one method per endpoint of the service.

>>> with Client("http://127.0.0.1:8000", api_key="...") as cartwise:  # doctest: +SKIP
...     answer = cartwise.recommend_user("u42", k=5)
...     cartwise.send_feedback([FeedbackEvent(recommendation_id=answer.recommendation_id,
...                                           item_id=answer.items[0].item_id, kind="click")])
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

import httpx

from cartwise import __version__
from cartwise.client import endpoints as ep
from cartwise.client import endpoints_experiments as trials
from cartwise.client import endpoints_lists as lists
from cartwise.client import endpoints_versions as versions
from cartwise.client.call import Call
from cartwise.client.retry import RetryPolicy, Wait

P = ParamSpec("P")
T = TypeVar("T")


def client_headers(api_key: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    """The headers every request carries: the key, what the client is, and `extra`."""
    headers = {"User-Agent": f"cartwise-client/{__version__}", "Accept": "application/json"}
    if api_key:
        headers["X-API-Key"] = api_key
    headers.update(extra or {})
    return headers


def method_signature(build: Callable[..., Any]) -> inspect.Signature:
    """`build`'s signature with ``self`` in front: what ``help()`` shows for the method."""
    sig = inspect.signature(build)
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    answer = sig.return_annotation  # "Call[X]" (a string: annotations are postponed)
    if isinstance(answer, str) and answer.startswith("Call[") and answer.endswith("]"):
        answer = answer[len("Call[") : -1]
    return sig.replace(parameters=[self_param, *sig.parameters.values()], return_annotation=answer)


def _bind(build: Callable[P, Call[T]]) -> Callable[Concatenate[Client, P], T]:
    """The method that builds the call with `build` and sends it."""

    def method(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self.send(build(*args, **kwargs))

    method.__name__ = method.__qualname__ = build.__name__
    method.__doc__ = build.__doc__
    method.__signature__ = method_signature(build)  # type: ignore[attr-defined]
    return method


class Client:
    """A blocking client of a Cartwise service.

    Args:
        base_url: where the service answers, e.g. ``http://127.0.0.1:8000``.
        api_key: sent as ``X-API-Key``; a key with the scopes the calls need (``read``,
            ``write``, ``admin``), or None for a service on this machine without keys.
        timeout: seconds to wait for a connection or an answer (or an ``httpx.Timeout``).
        retry: tries and waits for failed calls (:class:`RetryPolicy`); only calls that are
            safe to repeat are repeated.
        headers: more headers for every request.
        transport: an httpx transport (a proxy's, or ``httpx.MockTransport`` in tests).

    Every method raises :class:`~cartwise.client.errors.ApiError` (a subclass per status) when
    the service answers with an error, and
    :class:`~cartwise.client.errors.ApiConnectionError` when it does not answer.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = 10.0,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            headers=client_headers(api_key, headers),
            transport=transport,
        )

    def send(self, call: Call[T]) -> T:
        """Send `call`, retrying as the policy allows; its answer read into its model."""
        tries = 0
        while True:
            tries += 1
            try:
                response: httpx.Response | httpx.TransportError = self._http.request(
                    **call.request()
                )
            except httpx.TransportError as exc:
                response = exc
            outcome = self.retry.settle(call, tries, response)
            if not isinstance(outcome, Wait):
                return outcome
            time.sleep(outcome.seconds)

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
