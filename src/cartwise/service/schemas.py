"""Request and response bodies of the HTTP API (pydantic models; they make the OpenAPI schema).

Catalog records and events reuse :mod:`cartwise.data.schema` as they are; batches wrap them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cartwise.data.schema import Event, EventKind, Item, User

MAX_BATCH = 10_000
MAX_ID = 256
Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID)]
# Request numbers and flags are taken as JSON gives them: "5" or true is not a k.
K = Annotated[int, Field(strict=True, ge=1, le=100, description="how many items")]
Flag = Annotated[bool, Field(strict=True)]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- errors ------------------------------------------------------------------------------------
class ErrorField(_Body):
    """One bad input: the batch row (if any), the field, and what is wrong."""

    index: int | None = None
    field: str | None = None
    message: str


class ErrorDetail(_Body):
    """What went wrong, in words that say how to fix it."""

    type: str
    message: str
    fields: list[ErrorField] = Field(default_factory=list)


class ErrorOut(_Body):
    """The body of every 4xx/5xx answer."""

    error: ErrorDetail


# -- catalog, shoppers, events -------------------------------------------------------------------
class ItemsIn(_Body):
    """Items to insert or replace (by id)."""

    items: list[Item] = Field(min_length=1, max_length=MAX_BATCH)


class UsersIn(_Body):
    """Shoppers to insert or replace (by id)."""

    users: list[User] = Field(min_length=1, max_length=MAX_BATCH)


class UpsertOut(_Body):
    """How many records were written (users: deleted shoppers are not re-created this way,
    only new events bring one back; ``skipped_deleted`` counts them, present when not 0)."""

    upserted: int
    skipped_deleted: int = 0


class ItemsOut(_Body):
    """A page of the catalog."""

    items: list[Item]
    total: int


class UsersOut(_Body):
    """A page of shoppers."""

    users: list[User]
    total: int


class EventsIn(_Body):
    """Events to append; a repeated ``event_id`` is skipped, so retries are safe."""

    events: list[Event] = Field(min_length=1, max_length=MAX_BATCH)


class EventsOut(_Body):
    """Events written, events skipped because their id was already stored, and events left
    out as history of a deleted shopper (dated at or before the deletion; present when not 0)."""

    inserted: int
    duplicates: int
    deleted_history: int = 0


class EventList(_Body):
    """A shopper's events, oldest first."""

    events: list[Event]


class DeletedItemOut(_Body):
    """The item that was removed."""

    item_id: str


# -- recommendations ----------------------------------------------------------------------------
class EvidenceOut(_Body):
    """One fact behind a recommendation, computed by the system."""

    kind: Literal["history", "text_match", "new_arrival", "popular"]
    text: str = Field(description="the fact in words, e.g. \"you bought 'Galaxy S23'\"")
    weight: float = Field(description="its strength: attention share, score lift or relevance")


class ExplanationOut(_Body):
    """Why an item is recommended: the evidence and one sentence phrased from it only."""

    sentence: str
    source: Literal["generator", "template"] = Field(
        description="generator: phrased by the language model and checked against the "
        "evidence; template: fixed wording (no generator, its sentence was blocked, or it was "
        "not ready within the budget: the next request gets it)"
    )
    evidence: list[EvidenceOut]


class Recommended(_Body):
    """One item of an answer, with its score and why it is there.

    ``score`` is the model's (or the search's) relevance. Items come best first; with
    ``diversity`` they come in the diversified order, so scores need not descend.
    """

    item_id: str
    score: float
    reason: str
    item: Item
    details: dict[str, float] = Field(default_factory=dict)
    explanation: ExplanationOut | None = Field(
        default=None, description="with explain=true: the evidence and its sentence"
    )


class RecommendationsOut(_Body):
    """An answer: its id (for feedback; null when the request asked not to be logged), the
    model version, the items best first, and a message when the list is empty or short for a
    reason the caller should know (e.g. nothing matches a search)."""

    recommendation_id: str | None
    scenario: str
    model_version: str | None
    user_id: str | None
    items: list[Recommended]
    message: str | None = None
    experiment: str | None = Field(
        default=None, description="the A/B test that answered (null outside experiments)"
    )
    variant: str | None = Field(default=None, description="its variant that answered")


class SessionEvent(_Body):
    """Something an anonymous shopper did in this session."""

    item_id: Id
    kind: Literal[
        EventKind.VIEW,
        EventKind.CLICK,
        EventKind.ADD_TO_CART,
        EventKind.PURCHASE,
        EventKind.RATING,
    ] = EventKind.VIEW


class _Filtering(_Body):
    category: str | None = Field(default=None, max_length=256)
    min_price: Number | None = Field(default=None, ge=0)
    max_price: Number | None = Field(default=None, ge=0)
    type: str | None = Field(default=None, max_length=64, description="attributes.type")
    all_variants: Flag = Field(
        default=False,
        description="show every variant of a product (same title or attributes.group_id); "
        "default one per group",
    )
    log: Flag = Field(
        default=True,
        description="record the answer as shown (for feedback and online metrics); false for "
        "previews such as the dashboard's",
    )
    explain: Flag = Field(
        default=False, description="each item with its evidence and a sentence phrased from it"
    )


class SessionIn(_Filtering):
    """An anonymous shopper's session events, oldest first."""

    events: list[SessionEvent] = Field(min_length=1, max_length=200)
    session_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ID,
        description="the anonymous session's id: assigns the session a variant of a running "
        "experiment (none: answered by the active version)",
    )
    k: K = 10
    exclude_purchased: Flag = True
    diversity: Literal["none", "mmr", "category_cap"] = "none"


class SearchIn(_Filtering):
    """Free-text search, personalised when a shopper is named."""

    query: str = Field(min_length=1, max_length=500)
    user_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID)
    k: K = 10
    personalization: Number = Field(default=0.3, ge=0, le=1, description="weight of the model")


class AdCandidate(_Body):
    """A sponsored item and the advertiser's bid."""

    item_id: Id
    bid: Number = Field(ge=0, le=1e9)


class AdsIn(_Body):
    """Sponsored candidates to rank for a shopper."""

    user_id: Id
    candidates: list[AdCandidate] = Field(min_length=1, max_length=500)
    k: K = 3
    relevance_floor: Number = Field(default=0.5, ge=0, le=1)
    log: Flag = Field(default=True, description="record the answer as shown")


class AdOut(_Body):
    """A ranked sponsored item."""

    item_id: str
    bid: float
    probability: float
    relevance: float
    expected_value: float
    item: Item


class AdRejected(_Body):
    """A candidate left out, and why."""

    item_id: str
    reason: str


class AdsOut(_Body):
    """Ranked sponsored items (by expected value) and the ones left out."""

    recommendation_id: str | None
    model_version: str
    user_id: str
    ranked: list[AdOut]
    rejected: list[AdRejected]


# -- feedback and status ------------------------------------------------------------------------
class FeedbackEvent(_Body):
    """An impression, click, add-to-cart or purchase of an item from a served answer."""

    recommendation_id: str = Field(min_length=1, max_length=64)
    item_id: Id
    kind: Literal["impression", "click", "add_to_cart", "purchase"]
    timestamp: datetime | None = None
    value: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="a purchase's revenue (default: the item's price)",
    )


class FeedbackIn(_Body):
    """Feedback events, stored all or nothing."""

    events: list[FeedbackEvent] = Field(min_length=1, max_length=MAX_BATCH)


class FeedbackOut(_Body):
    """How many feedback events were stored new, were already stored (retries), and how many
    impressions were implied by clicks or purchases posted without theirs."""

    stored: int
    duplicates: int = 0
    implied_impressions: int = 0


class OnlineRow(_Body):
    """Online results of one model version in one scenario."""

    model_version: str | None
    scenario: str
    served: int
    impressions: int
    clicks: int
    purchases: int
    ctr: float | None


class OnlineOut(_Body):
    """Online results per model version and scenario."""

    rows: list[OnlineRow]


class TimelineRow(_Body):
    """Online results of one scenario and variant in one time bucket (``start``: its first
    second, epoch seconds UTC); feedback counts in the bucket of the answer it is about."""

    start: float
    scenario: str
    experiment_id: str | None
    variant: str | None
    model_version: str | None
    served: int
    impressions: int
    clicks: int
    add_to_cart: int
    purchases: int
    ctr: float | None
    conversion: float | None


class TimelineOut(_Body):
    """Online results over time (``bucket_seconds`` per bucket, the last ``days``)."""

    days: float
    bucket_seconds: float
    rows: list[TimelineRow]


class CoverageOut(_Body):
    """Share of the catalog shown in at least one answer served in the last ``days``."""

    days: float
    answers: int
    items_recommended: int
    catalog_items: int
    share: float | None


class HealthOut(_Body):
    """Liveness."""

    status: Literal["ok"]


class ReadyOut(_Body):
    """Readiness: the store answers (``store``) and the active model is loaded
    (``model_loaded``); ``ready`` is both. ``search_index`` tells whether the search index
    (item text vectors) is built yet; until it is, the first search builds it (readiness does
    not wait)."""

    ready: bool
    model_version: str | None
    store: bool = True
    model_loaded: bool = False
    search_index: bool = False


class StatsOut(_Body):
    """Store counts, the active model and its offline metrics."""

    store: dict[str, Any]
    model_version: str | None
    model_info: dict[str, Any]


class OnlineTotals(_Body):
    """What shoppers did with one version's answers: in total and per scenario."""

    served: int
    impressions: int
    clicks: int
    purchases: int
    ctr: float | None
    scenarios: dict[str, dict[str, Any]]


class VersionOut(_Body):
    """One saved model version with its offline and online metrics side by side.

    ``window``: first and last event time it learnt from; ``settings``: what training was
    asked for (``config``: the model's full configuration); ``offline``: validation metrics on
    the holdout; ``gate``: the activation gate's decision when it was trained;
    ``deleted_shoppers``: set when shoppers it learnt from were deleted since.
    """

    version: str
    model: str | None
    active: bool
    rollback_target: bool
    trained_at: str | None
    window: dict[str, Any] | None
    settings: dict[str, Any]
    config: dict[str, Any]
    data: dict[str, Any]
    holdout: dict[str, Any]
    offline: dict[str, float]
    online: OnlineTotals
    gate: dict[str, Any] | None
    deleted_shoppers: dict[str, Any] | None
    error: str | None = None


class ModelsOut(_Body):
    """Saved model versions, oldest first (names, and each in detail), the active one and the
    one a rollback would activate."""

    versions: list[str]
    active: str | None
    rollback_target: str | None = None
    details: list[VersionOut] = []


class ActivatedOut(_Body):
    """The version now active, and the one active before."""

    active: str
    previous: str | None = None


class PrunedOut(_Body):
    """Versions deleted by a prune, and those left."""

    deleted: list[str]
    kept: list[str]


class ReportJobOut(_Body):
    """A store evaluation job: ``running``, ``done`` or ``failed``; ``report``: where its HTML
    report is served once done; ``new``: whether this request started it (false: one was
    already running)."""

    id: str
    state: Literal["running", "done", "failed"]
    started: str
    finished: str | None
    exit_code: int | None
    about: dict[str, Any]
    log_tail: str
    report: str | None
    new: bool = False
