"""Event times: a window of plausible times at every door that writes events, and dates that
overflow in UTC rejected as field errors (issue 12, defects 2 and 3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from cartwise.config import Settings
from cartwise.data.event_times import EventTimeWindow
from cartwise.data.ingest.files import ingest_file
from cartwise.data.schema import Event, EventKind, Item, User
from cartwise.data.store import Store
from cartwise.errors import IngestError, InputError

HEADER = "user_id,item_id,kind,timestamp\n"
GOOD = "u1,i1,view,2024-01-01T10:00:00Z\n"
OVERFLOW = ["9999-12-31T23:00:00-14:00", "0001-01-01T00:00:00+14:00"]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store with one item and one event, so 'unchanged' means something."""
    store = Store.open(tmp_path / "store.db")
    (tmp_path / "seed_items.csv").write_text("id,title\ni1,Phone\n")
    (tmp_path / "seed_events.csv").write_text(HEADER + GOOD)
    ingest_file(store, "items", tmp_path / "seed_items.csv")
    ingest_file(store, "events", tmp_path / "seed_events.csv")
    return store


def _fails(store: Store, kind: str, path: Path) -> IngestError:
    before, events = store.counts(), store.events_frame()["event_id"].tolist()
    with pytest.raises(IngestError) as info:
        ingest_file(store, kind, path)  # type: ignore[arg-type]
    assert store.counts() == before
    assert store.events_frame()["event_id"].tolist() == events
    return info.value


@pytest.mark.parametrize(
    ("stamp", "problem"),
    [
        ("9999-12-31T23:00:00-14:00", "after the current time"),
        ("0001-01-01T00:00:00+14:00", "the earliest accepted"),
        ("9999-01-01", "after the current time"),
        ("1900-01-01 00:00:00", "the earliest accepted"),
        ("-2208988800", "the earliest accepted"),
    ],
)
def test_file_event_outside_the_window_is_a_line_error(
    store: Store, tmp_path: Path, stamp: str, problem: str
) -> None:
    path = tmp_path / "events.csv"
    path.write_text(HEADER + GOOD.replace("u1", "u2") + f"u3,i1,view,{stamp}\n" + GOOD)
    error = _fails(store, "events", path)
    assert (error.line, error.field) == (3, "timestamp")
    assert problem in str(error) and repr(stamp) in str(error)


def test_file_event_a_little_ahead_of_the_clock_is_accepted(store: Store, tmp_path: Path) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=6)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    (tmp_path / "soon.csv").write_text(HEADER + f"u2,i1,view,{soon}\n")
    ingest_file(store, "events", tmp_path / "soon.csv")
    assert store.counts()["events"] == 2
    (tmp_path / "later.csv").write_text(HEADER + GOOD.replace("u1", "u4") + f"u2,i1,view,{later}\n")
    error = _fails(store, "events", tmp_path / "later.csv")
    assert error.line == 3 and "CARTWISE_EVENT_FUTURE_SKEW" in str(error)


def test_file_jsonl_epoch_milliseconds_far_ahead_is_rejected(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"user_id": "u1", "item_id": "i1", "kind": "view", "timestamp": 1704103200}\n'
        '{"user_id": "u1", "item_id": "i1", "kind": "view", "timestamp": 253402300000000}\n'
    )
    error = _fails(store, "events", path)
    assert (error.line, error.field) == (2, "timestamp")


@pytest.mark.parametrize("stamp", OVERFLOW)
@pytest.mark.parametrize("kind", ["items", "users"])
def test_file_created_at_beyond_the_calendar_is_a_line_error(
    store: Store, tmp_path: Path, stamp: str, kind: str
) -> None:
    path = tmp_path / f"{kind}.csv"
    path.write_text(f"id,created_at\nn1,2024-01-01\nn2,{stamp}\n")
    error = _fails(store, kind, path)
    assert (error.line, error.field) == (3, "created_at")


@pytest.mark.parametrize("stamp", OVERFLOW)
def test_schema_overflow_is_a_validation_error_naming_the_field(stamp: str) -> None:
    with pytest.raises(ValidationError) as info:
        Event(event_id="e", user_id="u", item_id="i", kind=EventKind.VIEW, timestamp=stamp)  # type: ignore[arg-type]
    assert info.value.errors()[0]["loc"] == ("timestamp",)
    assert "years 1 to 9999" in str(info.value)
    for model in (Item, User):
        with pytest.raises(ValidationError) as info:
            model(id="x", created_at=stamp)  # type: ignore[arg-type]
        assert info.value.errors()[0]["loc"] == ("created_at",)


def test_store_append_events_checks_the_window(store: Store) -> None:
    def ev(n: int, when: datetime) -> Event:
        return Event(
            event_id=f"w{n}", user_id="u9", item_id="i1", kind=EventKind.VIEW, timestamp=when
        )

    before = store.counts()
    with pytest.raises(InputError) as info:
        store.append_events(
            [ev(1, datetime(2024, 5, 1, tzinfo=UTC)), ev(2, datetime(9999, 1, 1, tzinfo=UTC))]
        )
    assert (info.value.line, info.value.field) == (2, "timestamp")
    assert "9999-01-01T00:00:00Z" in str(info.value)
    assert store.counts() == before


def test_window_bounds_follow_the_settings() -> None:
    now = datetime(2025, 6, 1, tzinfo=UTC)
    window = EventTimeWindow.from_settings(Settings(event_future_skew=timedelta(hours=2)))
    assert window.bounds(now) == (
        datetime(1990, 1, 1, tzinfo=UTC).timestamp(),
        (now + timedelta(hours=2)).timestamp(),
    )
    naive = EventTimeWindow.from_settings(Settings(event_time_floor=datetime(2001, 1, 1)))
    assert naive.floor == datetime(2001, 1, 1, tzinfo=UTC)
