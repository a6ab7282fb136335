"""Bad input stops an import with one IngestError naming file, line, field and fix; the store
is left exactly as it was."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cartwise.data import bulk
from cartwise.data.ingest.files import ingest_file
from cartwise.data.store import Store
from cartwise.errors import IngestError

ITEMS_CSV = "id,title,price\ni1,Phone,199\ni2,Case,9.5\n"
HEADER = "user_id,item_id,kind,timestamp\n"
GOOD = "u1,i1,view,2024-01-01T10:00:00Z\n"


@pytest.fixture
def store(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A store that already holds two items and one event, so 'unchanged' means something;
    on SQLite and on PostgreSQL (where imports of any size use COPY)."""
    monkeypatch.setattr(bulk, "COPY_MIN_ROWS", 1)
    store = Store.open(store_url)
    (tmp_path / "seed_items.csv").write_text(ITEMS_CSV)
    (tmp_path / "seed_events.csv").write_text(HEADER + GOOD)
    ingest_file(store, "items", tmp_path / "seed_items.csv")
    ingest_file(store, "events", tmp_path / "seed_events.csv")
    yield store
    store.close()


def fails(store: Store, kind: Any, path: Path, **options: Any) -> IngestError:
    """Run an import that must fail; check the store did not change."""
    before = store.counts()
    events_before = store.events_frame()["event_id"].tolist()
    with pytest.raises(IngestError) as info:
        ingest_file(store, kind, path, **options)
    assert store.counts() == before
    assert store.events_frame()["event_id"].tolist() == events_before
    assert info.value.source == path.name
    assert str(info.value).startswith(path.name)
    return info.value


def csv_file(tmp_path: Path, text: str, name: str = "events.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_missing_required_column(store: Store, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "customer,item_id,kind,timestamp\nu1,i1,view,2024-01-01\n")
    error = fails(store, "events", path)
    assert (error.line, error.field) == (1, "user_id")
    assert "missing required column 'user_id'" in str(error)
    assert "columns are: customer, item_id, kind, timestamp" in str(error)
    assert "--map user_id=COLUMN, mapping={'user_id': COLUMN} in Python" in str(error)


def test_missing_kind_column_suggests_default_kind(store: Store, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "user_id,item_id,timestamp\nu1,i1,2024-01-01\n")
    error = fails(store, "events", path)
    assert error.field == "kind" and "default kind" in str(error)
    assert "--kind KIND (default_kind=KIND in Python" in str(error)


def test_mapping_to_absent_column(store: Store, tmp_path: Path) -> None:
    path = csv_file(tmp_path, HEADER + GOOD)
    error = fails(store, "events", path, mapping={"user_id": "CustomerID"})
    assert (error.line, error.field) == (1, "CustomerID")
    assert "column 'CustomerID' (mapped to user_id) is not in the file" in str(error)
    assert "user_id, item_id, kind, timestamp" in str(error)


def test_mapping_unknown_field(store: Store, tmp_path: Path) -> None:
    error = fails(store, "events", csv_file(tmp_path, HEADER + GOOD), mapping={"usr": "user_id"})
    assert error.field == "usr" and "unknown field 'usr'" in str(error)
    assert "event_id, user_id, session_id" in str(error)


def test_unparsable_timestamp(store: Store, tmp_path: Path) -> None:
    path = csv_file(tmp_path, HEADER + GOOD + "u2,i2,view,yesterday\nu3,i2,view,soon\n")
    error = fails(store, "events", path)
    assert (error.line, error.field) == (3, "timestamp")
    assert "'yesterday'" in str(error) and "(1 more row like it)" in str(error)
    assert "ISO 8601" in str(error) and "month/day/year" in str(error)


def test_unknown_event_kind(store: Store, tmp_path: Path) -> None:
    path = csv_file(tmp_path, HEADER + GOOD + GOOD.replace("view", "buy"))
    error = fails(store, "events", path)
    assert (error.line, error.field) == (3, "kind")
    assert "unknown event kind 'buy'" in str(error)
    assert "view, click, add_to_cart, remove_from_cart, purchase" in str(error)


def test_duplicate_item_ids(store: Store, tmp_path: Path) -> None:
    path = csv_file(tmp_path, ITEMS_CSV + "i3,Cable,3\ni1,Phone again,150\n", "items.csv")
    error = fails(store, "items", path)
    assert (error.line, error.field) == (5, "id")
    assert "duplicate id 'i1' (first on line 2)" in str(error)
    assert "--on-duplicate first or last (on_duplicate='first' or 'last' in Python)" in str(error)


def test_duplicate_event_ids(store: Store, tmp_path: Path) -> None:
    text = "event_id," + HEADER + "e1," + GOOD + "e2," + GOOD + "e1," + GOOD
    error = fails(store, "events", csv_file(tmp_path, text))
    assert (error.line, error.field) == (4, "event_id")
    assert "duplicate event_id 'e1' (first on line 2)" in str(error)


def test_unknown_item(store: Store, tmp_path: Path) -> None:
    path = csv_file(tmp_path, HEADER + GOOD + "u2,i9,view,2024-01-02\nu2,i8,view,2024-01-02\n")
    error = fails(store, "events", path)
    assert (error.line, error.field) == (3, "item_id")
    assert "unknown item 'i9' (2 unknown item ids in all)" in str(error)
    assert "--unknown-items placeholder (unknown_items='placeholder' in Python)" in str(error)


def test_non_utf8_bytes(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes((HEADER + GOOD).encode() + "u2,i1,view,2024-01-02 # café\n".encode("latin-1"))
    error = fails(store, "events", path)
    assert error.line == 3
    assert "not valid UTF-8" in str(error) and "iconv" in str(error)


def test_non_utf8_bytes_in_gzip(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "events.csv.gz"
    path.write_bytes(gzip.compress((HEADER + "u\xe9,i1,view,2024-01-02\n").encode("cp1252")))
    assert fails(store, "events", path).line == 2


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        (HEADER, "no data rows"),
    ],
)
def test_empty_file(store: Store, tmp_path: Path, text: str, fragment: str) -> None:
    assert fragment in str(fails(store, "events", csv_file(tmp_path, text)))


def test_wrong_extension(store: Store, tmp_path: Path) -> None:
    error = fails(store, "events", csv_file(tmp_path, HEADER + GOOD, "events.txt"))
    assert "unsupported file type '.txt'" in str(error)
    for suffix in (".csv", ".csv.gz", ".parquet", ".jsonl", ".jsonl.gz", ".ndjson"):
        assert suffix in str(error)


def test_missing_file(store: Store, tmp_path: Path) -> None:
    assert "file not found" in str(fails(store, "events", tmp_path / "nope.csv"))


def test_not_really_gzip(store: Store, tmp_path: Path) -> None:
    error = fails(store, "events", csv_file(tmp_path, HEADER + GOOD, "events.csv.gz"))
    assert "not a valid gzip file" in str(error)


def test_negative_price(store: Store, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "id,price\ni5,3\ni6,-11062.06\n", "items.csv")
    error = fails(store, "items", path)
    assert (error.line, error.field) == (3, "price")
    assert "'-11062.06': negative price" in str(error)
    assert "prices must be 0 or more" in str(error)


def test_missing_item_id_for_item_event(store: Store, tmp_path: Path) -> None:
    error = fails(store, "events", csv_file(tmp_path, HEADER + GOOD + "u2,,purchase,2024-01-02\n"))
    assert (error.line, error.field) == (3, "item_id")
    assert "every event except 'search' must name an item" in str(error)


def test_no_item_column_for_item_events(store: Store, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "user_id,kind,timestamp\nu1,view,2024-01-01\n")
    error = fails(store, "events", path)
    assert (error.line, error.field) == (1, "item_id")
    assert "'view' events must name an item" in str(error)


def test_search_without_query(store: Store, tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        "user_id,kind,query,timestamp\nu1,search,shoes,2024-01-01\nu1,search,  ,2024-01-02\n",
    )
    error = fails(store, "events", path)
    assert (error.line, error.field) == (3, "query")
    assert "a 'search' event needs the text" in str(error)


def test_missing_user_is_an_error_by_default(store: Store, tmp_path: Path) -> None:
    error = fails(store, "events", csv_file(tmp_path, HEADER + GOOD + ",i1,view,2024-01-02\n"))
    assert (error.line, error.field) == (3, "user_id")
    assert "--missing-user skip (missing_user='skip' in Python)" in str(error)


def test_negative_value_is_an_error_by_default(store: Store, tmp_path: Path) -> None:
    text = (
        "user_id,item_id,kind,timestamp,value\nu1,i1,purchase,2024-01-01,2\n"
        "u1,i1,purchase,2024-01-02,-2\n"
    )
    error = fails(store, "events", csv_file(tmp_path, text))
    assert (error.line, error.field) == (3, "value")
    assert "--negative-value return, negative_value='return' in Python" in str(error)
    assert "--negative-value skip, negative_value='skip' in Python" in str(error)


def test_value_not_a_number(store: Store, tmp_path: Path) -> None:
    text = "user_id,item_id,kind,timestamp,value\nu1,i1,purchase,2024-01-01,two\n"
    error = fails(store, "events", csv_file(tmp_path, text))
    assert (error.line, error.field) == (2, "value")
    assert "'two': not a number" in str(error)


def test_error_names_the_mapped_column(store: Store, tmp_path: Path) -> None:
    text = "CustomerID,StockCode,InvoiceDate\n17850,i1,12/1/2010 8:26\n17850,i1,13/13/2010\n"
    error = fails(
        store,
        "events",
        csv_file(tmp_path, text),
        default_kind="purchase",
        mapping={"user_id": "CustomerID", "item_id": "StockCode", "timestamp": "InvoiceDate"},
    )
    assert (error.line, error.field) == (3, "InvoiceDate")
    assert "'13/13/2010'" in str(error) and "mapped to timestamp" in str(error)


def test_line_numbers_count_multiline_cells(store: Store, tmp_path: Path) -> None:
    text = 'id,description,price\ni5,"two\nlines",3\n\ni6,"three\nline\ncell",-1\n'
    error = fails(store, "items", csv_file(tmp_path, text, "items.csv"))
    assert (error.line, error.field) == (5, "price")


def test_jsonl_line_numbers(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"user_id": "u1", "item_id": "i1", "kind": "view", "timestamp": 1}\n\n'
        '{"user_id": "u1", "item_id": "i1", "kind": "vue", "timestamp": 2}\n'
    )
    error = fails(store, "events", path)
    assert (error.line, error.field) == (3, "kind")


def test_jsonl_malformed_line(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"user_id": "u1"}\n{"user_id": "u2",\n')
    error = fails(store, "events", path)
    assert error.line == 2 and "invalid JSON" in str(error)


def test_parquet_rows_are_numbered(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pd.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "item_id": ["i1", "i1"],
            "kind": ["view", "jump"],
            "timestamp": [1, 2],
        }
    ).to_parquet(path)
    error = fails(store, "events", path)
    assert (error.line, error.field) == (2, "kind")


def test_bad_json_attributes(store: Store, tmp_path: Path) -> None:
    path = csv_file(tmp_path, 'id,attributes\nu1,"{""a"": 1}"\nu2,[1]\n', "users.csv")
    error = fails(store, "users", path)
    assert (error.line, error.field) == (3, "attributes")
    assert "not a JSON object" in str(error)


def test_id_too_long(store: Store, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "id\n" + "x" * 300 + "\n", "items.csv")
    error = fails(store, "items", path)
    assert (error.line, error.field) == (2, "id") and "longer than 256" in str(error)


def test_ragged_csv(store: Store, tmp_path: Path) -> None:
    error = fails(store, "events", csv_file(tmp_path, HEADER + GOOD + "u1,i1,view\n"))
    assert "cannot parse the CSV" in str(error) and error.line == 3


def test_crlf_line_numbers(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(b"id,price\r\ni5,1\r\ni6,x\r\n")
    error = fails(store, "items", path)
    assert (error.line, error.field) == (3, "price")


def test_nul_character_in_a_title(store: Store, tmp_path: Path) -> None:
    """PostgreSQL cannot store NUL in text; refused on every backend, with the line."""
    path = csv_file(tmp_path, "id,title\ni3,Phone\ni4,Bad\x00title\n", "items.csv")
    err = fails(store, "items", path)
    assert (err.line, err.field) == (3, "title")
    assert "contains a NUL character (\\x00); remove it" in str(err)


def test_nul_character_in_a_user_id(store: Store, tmp_path: Path) -> None:
    path = csv_file(tmp_path, HEADER + GOOD + "u\x002,i1,view,2024-01-01T10:00:00Z\n")
    err = fails(store, "events", path)
    assert (err.line, err.field) == (3, "user_id")


def test_currency_code_too_long(store: Store, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "id,title,currency\ni3,Phone,EUR\ni4,Case,US DOLLARS\n", "items.csv")
    err = fails(store, "items", path)
    assert (err.line, err.field) == (3, "currency")
    assert "not a currency code; write one such as EUR or USD" in str(err)
