"""File import: formats, round trip to a Dataset, idempotency, mapping, policies, atomicity."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cartwise.data import bulk
from cartwise.data.dataset import Dataset
from cartwise.data.ingest import events as ingest_events
from cartwise.data.ingest.files import IngestSummary, ingest_file, parse_mapping
from cartwise.data.store import Batch, Store
from cartwise.errors import InputError

ITEMS = [
    {"id": "i1", "title": "Phone", "category": "Electronics > Phones", "price": 199.0},
    {"id": "i2", "title": "Case", "category": "Electronics|Accessories", "price": 9.5},
    {"id": "i3", "title": "Cable", "category": '["Electronics", "Cables"]', "price": None},
]
# u2's first event is at 08:00Z (09:00+01:00), before the naive 09:00 (taken as UTC).
EVENTS = [
    {"user_id": "u1", "item_id": "i1", "kind": "view", "timestamp": "2024-01-01T10:00:00Z"},
    {
        "user_id": "u1",
        "item_id": "i2",
        "kind": "purchase",
        "timestamp": "2024-01-01T10:05:00Z",
        "value": 2,
    },
    {
        "user_id": "u2",
        "item_id": "i3",
        "kind": "add_to_cart",
        "timestamp": "2024-01-02 09:00:00",
        "value": 1,
    },
    {"user_id": "u2", "item_id": "i1", "kind": "click", "timestamp": "2024-01-02T09:00:00+01:00"},
]


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write rows in the format the file name asks for."""
    frame = pd.DataFrame(rows)
    name = path.name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    elif ".csv" in name:
        frame.to_csv(path, index=False)  # pandas gzips .csv.gz itself
    else:
        text = "".join(
            json.dumps({k: v for k, v in r.items() if v is not None}) + "\n" for r in rows
        )
        path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    return path


@pytest.fixture
def store(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A new, empty store, on SQLite and on PostgreSQL (where imports of any size use COPY)."""
    monkeypatch.setattr(bulk, "COPY_MIN_ROWS", 1)
    store = Store.open(store_url)
    yield store
    store.close()


@pytest.mark.parametrize(
    "suffix", [".csv", ".csv.gz", ".parquet", ".jsonl", ".jsonl.gz", ".ndjson"]
)
def test_round_trip_each_format(store: Store, tmp_path: Path, suffix: str) -> None:
    items = ingest_file(store, "items", write(tmp_path / f"items{suffix}", ITEMS))
    events = ingest_file(store, "events", write(tmp_path / f"events{suffix}", EVENTS))
    assert (items.inserted, items.duplicates, items.rows_read) == (3, 0, 3)
    assert (events.inserted, events.duplicates, events.rows_read) == (4, 0, 4)
    assert store.counts() == {"items": 3, "users": 2, "events": 4}
    data = Dataset.from_store(store)
    assert (data.n_users, data.n_items, data.n_interactions) == (2, 3, 4)
    assert data.items.decode(data.sequences[data.users.index("u1")]) == ["i1", "i2"]
    assert data.items.decode(data.sequences[data.users.index("u2")]) == ["i1", "i3"]
    assert store.get_item("i1").category == ["Electronics", "Phones"]
    assert store.get_item("i2").category == ["Electronics", "Accessories"]
    assert store.get_item("i3").category == ["Electronics", "Cables"]
    assert store.get_item("i3").price is None
    values = store.events_frame().set_index("item_id")["value"]
    assert values["i2"] == 2.0 and values["i3"] == 1.0 and pd.isna(values["i1"]).all()


def test_reingest_is_idempotent(store: Store, tmp_path: Path) -> None:
    items_path = write(tmp_path / "items.csv", ITEMS)
    events_path = write(tmp_path / "events.csv", EVENTS)
    ingest_file(store, "items", items_path)
    ingest_file(store, "events", events_path)
    items = ingest_file(store, "items", items_path)
    events = ingest_file(store, "events", events_path)
    assert (items.inserted, items.duplicates) == (0, 3)
    assert (events.inserted, events.duplicates) == (0, 4)
    assert store.counts() == {"items": 3, "users": 2, "events": 4}
    # The same events from another format get the same derived ids.
    again = ingest_file(store, "events", write(tmp_path / "events.jsonl", EVENTS))
    assert (again.inserted, again.duplicates) == (0, 4)


def test_item_created_at_survives_reimport_without_it(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "items.csv", ITEMS)
    ingest_file(store, "items", path)
    first = store.get_item("i1").created_at
    ingest_file(store, "items", path)
    assert store.get_item("i1").created_at == first


def test_identical_rows_stay_separate_events(store: Store, tmp_path: Path) -> None:
    ingest_file(store, "items", write(tmp_path / "items.csv", ITEMS))
    path = write(tmp_path / "events.csv", [EVENTS[0], EVENTS[0], EVENTS[1]])
    assert ingest_file(store, "events", path).inserted == 3
    assert ingest_file(store, "events", path).inserted == 0
    ids = store.events_frame()["event_id"].tolist()
    assert len(set(ids)) == 3
    assert sorted(i.endswith("-1") for i in ids) == [False, False, True]


def test_event_id_column_is_used(store: Store, tmp_path: Path) -> None:
    ingest_file(store, "items", write(tmp_path / "items.csv", ITEMS))
    rows = [dict(e, event_id=f"e{n}") for n, e in enumerate(EVENTS)]
    ingest_file(store, "events", write(tmp_path / "events.csv", rows))
    assert sorted(store.events_frame()["event_id"]) == ["e0", "e1", "e2", "e3"]


def test_mapping_and_default_kind(store: Store, tmp_path: Path) -> None:
    ingest_file(store, "items", write(tmp_path / "items.csv", ITEMS))
    path = tmp_path / "orders.csv"
    path.write_text(
        "InvoiceNo,StockCode,Quantity,InvoiceDate,CustomerID,Country\n"
        "536365,i1,6,12/1/2010 8:26,17850,United Kingdom\n"
        "536366,i2,1,12/1/2010 8:28,17850,United Kingdom\n"
    )
    mapping = parse_mapping(
        ["user_id=CustomerID", "item_id=StockCode", "value = Quantity", "timestamp=InvoiceDate"]
    )
    summary = ingest_file(store, "events", path, mapping=mapping, default_kind="purchase")
    assert summary.inserted == 2
    assert summary.ignored_columns == ("InvoiceNo", "Country")
    frame = store.events_frame()
    assert frame["user_id"].tolist() == ["17850", "17850"]
    assert frame["kind"].tolist() == ["purchase", "purchase"]
    assert frame["value"].tolist() == [6.0, 1.0]
    expected = datetime(2010, 12, 1, 8, 26, tzinfo=UTC).timestamp()
    assert frame["ts"].tolist() == [expected, expected + 120]


def test_parse_mapping() -> None:
    assert parse_mapping([]) == {}
    assert parse_mapping(["user_id=CustomerID", " item_id = Stock Code "]) == {
        "user_id": "CustomerID",
        "item_id": "Stock Code",
    }
    for bad in (["user_id"], ["=CustomerID"], ["user_id="]):
        with pytest.raises(InputError, match="FIELD=COLUMN, e.g. user_id=CustomerID"):
            parse_mapping(bad)
    with pytest.raises(InputError, match="mapped twice"):
        parse_mapping(["user_id=a", "user_id=b"])


def test_timestamp_formats(store: Store, tmp_path: Path) -> None:
    ingest_file(store, "items", write(tmp_path / "items.csv", ITEMS))
    stamps = {
        "2024-01-01T00:00:00Z": 1_704_067_200.0,
        "2024-01-01T02:00:00+02:00": 1_704_067_201.0,
        "2024-01-01 00:00:02": 1_704_067_202.0,
        "1704067203": 1_704_067_203.0,
        "1704067204000": 1_704_067_204.0,
        "1704067205.5": 1_704_067_205.5,
        "1/1/2024 0:00": 1_704_067_200.0,
        "12/1/2010 8:26": datetime(2010, 12, 1, 8, 26, tzinfo=UTC).timestamp(),
        "2024/01/01": 1_704_067_200.0,
        "01.01.2024 00:01": 1_704_067_260.0,
    }
    stamps["2024-01-01T02:00:00+02:00"] = 1_704_067_200.0
    rows = [
        {"user_id": f"u{n}", "item_id": "i1", "kind": "view", "timestamp": text}
        for n, text in enumerate(stamps)
    ]
    ingest_file(store, "events", write(tmp_path / "events.csv", rows))
    got = store.events_frame().set_index("user_id")["ts"]
    assert [got[f"u{n}"] for n in range(len(stamps))] == list(stamps.values())


def test_parquet_native_types(store: Store, tmp_path: Path) -> None:
    ingest_file(store, "items", write(tmp_path / "items.csv", ITEMS))
    frame = pd.DataFrame(
        {
            "user_id": [17850.0, None, 12.0],  # a numeric id column with a gap
            "item_id": ["i1", "i1", "i2"],
            "kind": "view",
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
        }
    )
    path = tmp_path / "events.parquet"
    frame.to_parquet(path, index=False)
    summary = ingest_file(store, "events", path, missing_user="skip")
    assert summary.skipped == {"missing user_id": 1}
    got = store.events_frame()
    assert got["user_id"].tolist() == ["17850", "12"]
    assert got["ts"].tolist() == [1_704_067_200.0, 1_704_240_000.0]


def test_placeholder_items(store: Store, tmp_path: Path) -> None:
    ingest_file(store, "items", write(tmp_path / "items.csv", ITEMS))
    rows = [
        *EVENTS,
        {"user_id": "u3", "item_id": "i9", "kind": "view", "timestamp": "2024-01-03T00:00:00Z"},
    ]
    summary = ingest_file(
        store, "events", write(tmp_path / "e.csv", rows), unknown_items="placeholder"
    )
    assert (summary.inserted, summary.placeholders) == (5, 1)
    assert store.counts() == {"items": 4, "users": 3, "events": 5}
    catalog = store.items_frame().set_index("id")
    assert bool(catalog.loc["i9", "placeholder"]) and not bool(catalog.loc["i1", "placeholder"])
    assert any("1 placeholder items" in line for line in summary.lines())


def _with_returns(tmp_path: Path) -> Path:
    rows = [
        {"user_id": "u1", "item_id": "i1", "timestamp": "2024-01-01T00:00:00Z", "value": 3},
        {"user_id": "u1", "item_id": "i1", "timestamp": "2024-01-02T00:00:00Z", "value": -2},
        {"user_id": "", "item_id": "i2", "timestamp": "2024-01-02T00:00:00Z", "value": 1},
        {"user_id": "", "item_id": "i2", "timestamp": "2024-01-02T00:00:00Z", "value": -1},
    ]
    return write(tmp_path / "orders.csv", rows)


def test_negative_values_become_returns(store: Store, tmp_path: Path) -> None:
    ingest_file(store, "items", write(tmp_path / "items.csv", ITEMS))
    summary = ingest_file(
        store,
        "events",
        _with_returns(tmp_path),
        default_kind="purchase",
        negative_value="return",
        missing_user="skip",
    )
    assert (summary.inserted, summary.skipped) == (2, {"missing user_id": 2})
    frame = store.events_frame()
    assert frame["kind"].tolist() == ["purchase", "return"]
    assert frame["value"].tolist() == [3.0, 2.0]
    assert "2 rows skipped: missing user_id" in summary.lines()
    assert Dataset.from_store(store).n_interactions == 1  # returns are not positive feedback


def test_negative_values_skipped_and_counted(store: Store, tmp_path: Path) -> None:
    ingest_file(store, "items", write(tmp_path / "items.csv", ITEMS))
    summary = ingest_file(
        store,
        "events",
        _with_returns(tmp_path),
        default_kind="purchase",
        negative_value="skip",
        missing_user="skip",
    )
    assert summary.skipped == {"missing user_id": 2, "negative value": 1}
    assert summary.inserted == 1
    assert store.events_frame()["value"].tolist() == [3.0]


def test_negative_ratings_are_kept(store: Store, tmp_path: Path) -> None:
    ingest_file(store, "items", write(tmp_path / "items.csv", ITEMS))
    rows = [
        {
            "user_id": "u1",
            "item_id": "i1",
            "kind": "rating",
            "value": -1,
            "timestamp": "2024-01-01T00:00:00Z",
        }
    ]
    assert ingest_file(store, "events", write(tmp_path / "r.csv", rows)).inserted == 1
    assert store.events_frame()["value"].tolist() == [-1.0]


def test_search_events_need_no_item(store: Store, tmp_path: Path) -> None:
    rows = [
        {
            "user_id": "u1",
            "kind": "search",
            "query": "red shoes",
            "timestamp": "2024-01-01T00:00:00Z",
            "context": '{"page": 2}',
        }
    ]
    assert ingest_file(store, "events", write(tmp_path / "s.csv", rows)).inserted == 1
    event = store.user_events("u1")[0]
    assert (event.query, event.item_id, event.context) == ("red shoes", None, {"page": 2})


@pytest.mark.parametrize(("policy", "title"), [("first", "Phone"), ("last", "Phone v2")])
def test_duplicate_item_policy(store: Store, tmp_path: Path, policy: Any, title: str) -> None:
    rows = [*ITEMS, {"id": "i1", "title": "Phone v2"}]
    summary = ingest_file(store, "items", write(tmp_path / "i.csv", rows), on_duplicate=policy)
    assert (summary.inserted, summary.skipped) == (3, {"duplicate id": 1})
    assert store.get_item("i1").title == title


def test_users_and_item_fields(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text(
        json.dumps(
            {
                "id": "i1",
                "title": " Lamp ",
                "available": "no",
                "attributes": {"colour": "red"},
                "brand": "Acme",
                "created_at": 1_704_067_200,
            }
        )
        + "\n"
    )
    ingest_file(store, "items", path)
    item = store.get_item("i1")
    assert (item.title, item.available, item.brand) == ("Lamp", False, "Acme")
    assert item.attributes == {"colour": "red"}
    assert item.created_at == datetime(2024, 1, 1, tzinfo=UTC)
    users = write(tmp_path / "users.csv", [{"id": "u1", "attributes": '{"tier": "gold"}'}])
    summary = ingest_file(store, "users", users)
    assert (summary.inserted, store.get_user("u1").attributes) == (1, {"tier": "gold"})


def test_summary_lines() -> None:
    summary = IngestSummary(
        "events",
        Path("/x/orders.csv"),
        10,
        6,
        1,
        {"missing user_id": 3},
        placeholders=2,
        seconds=1.25,
    )
    assert summary.lines() == [
        "events from orders.csv: 10 rows read in 1.2 s",
        "6 events added, 1 already in the store (left as they were)",
        "3 rows skipped: missing user_id",
        "2 placeholder items created for unknown item ids; import the catalog to fill them in",
    ]


def test_progress_bar_and_chunks(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_events, "WRITE_CHUNK", 3)
    ingest_file(store, "items", write(tmp_path / "items.csv", ITEMS), progress=True)
    rows = [dict(EVENTS[0], user_id=f"u{n}") for n in range(10)]
    summary = ingest_file(store, "events", write(tmp_path / "e.csv", rows), progress=True)
    assert summary.inserted == 10 and store.counts()["events"] == 10


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_interrupted_write_leaves_store_unchanged(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    ingest_file(store, "items", write(tmp_path / "items.csv", ITEMS))
    ingest_file(store, "events", write(tmp_path / "events.csv", EVENTS[:1]))
    before = store.counts()
    monkeypatch.setattr(ingest_events, "WRITE_CHUNK", 2)
    original = Batch.append_event_columns
    calls = []

    def fail_second(self: Batch, columns: Any, **kw: Any) -> Any:
        calls.append(len(columns["event_id"]))
        if len(calls) == 2:
            raise error
        return original(self, columns, **kw)

    monkeypatch.setattr(Batch, "append_event_columns", fail_second)
    rows = [dict(EVENTS[1], user_id=f"new{n}") for n in range(5)]
    with pytest.raises(type(error)):
        ingest_file(store, "events", write(tmp_path / "more.csv", rows))
    assert calls == [2, 2]  # the first chunk was written inside the transaction, then undone
    assert store.counts() == before


def test_bad_option_values() -> None:
    with pytest.raises(InputError, match="negative_value='drop' is not a valid choice"):
        ingest_file(Store("sqlite://"), "events", Path("x.csv"), negative_value="drop")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="default_kind='buy'.*purchase"):
        ingest_file(Store("sqlite://"), "events", Path("x.csv"), default_kind="buy")


def test_bom_and_crlf(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(b"\xef\xbb\xbfid,title\r\ni1,Phone\r\ni2,Case\r\n")
    assert ingest_file(store, "items", path).inserted == 2
    assert store.get_item("i2").title == "Case"
