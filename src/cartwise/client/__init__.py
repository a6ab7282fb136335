"""A typed Python client of the Cartwise HTTP service, for shop back ends (httpx).

One method per endpoint, in a blocking :class:`Client` and an asyncio :class:`AsyncClient`;
each returns the response model the service declares (:mod:`cartwise.service.schemas`, which
imports pydantic only, not FastAPI), raises the service's errors as typed exceptions
(:mod:`cartwise.client.errors`) and retries what is safe to retry (:class:`RetryPolicy`)::

    from cartwise.client import Client, FeedbackEvent

    with Client("https://recs.example.com", api_key="...") as cartwise:
        answer = cartwise.recommend_user("u42", k=5, category="Phones")
        cartwise.send_feedback([FeedbackEvent(recommendation_id=answer.recommendation_id,
                                              item_id=answer.items[0].item_id, kind="click")])
"""

from cartwise.client.aio import AsyncClient
from cartwise.client.call import Call, Filters
from cartwise.client.errors import (
    ApiAuthError,
    ApiConfigError,
    ApiConnectionError,
    ApiDataError,
    ApiError,
    ApiInputError,
    ApiModelError,
    ApiNotFoundError,
    ApiResourceError,
    ApiServerError,
    ApiStoreError,
    ApiUnavailableError,
)
from cartwise.client.retry import RetryPolicy
from cartwise.client.sync import Client
from cartwise.data.schema import Event, EventKind, Item, User
from cartwise.service.schemas import AdCandidate, FeedbackEvent, SessionEvent

__all__ = [
    "AdCandidate",
    "ApiAuthError",
    "ApiConfigError",
    "ApiConnectionError",
    "ApiDataError",
    "ApiError",
    "ApiInputError",
    "ApiModelError",
    "ApiNotFoundError",
    "ApiResourceError",
    "ApiServerError",
    "ApiStoreError",
    "ApiUnavailableError",
    "AsyncClient",
    "Call",
    "Client",
    "Event",
    "EventKind",
    "Filters",
    "FeedbackEvent",
    "Item",
    "RetryPolicy",
    "SessionEvent",
    "User",
]
