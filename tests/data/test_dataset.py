"""Vocabulary and Dataset: id mapping, ordering, matrix, catalog text, snapshots of a Store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cartwise.data.dataset import PAD, PAD_TOKEN, Dataset, Vocabulary, item_text_of
from cartwise.data.schema import Event, EventKind, Item
from cartwise.data.store import Store
from cartwise.errors import DataError, InputError

# -- Vocabulary --------------------------------------------------------------------------------


def test_vocabulary_indices_start_at_one() -> None:
    vocab = Vocabulary(["b", "a", "b"])
    assert vocab.ids == ["b", "a"]
    assert (vocab.index("b"), vocab.index("a")) == (1, 2)
    assert (len(vocab), vocab.size) == (3, 2)
    assert vocab.add("c") == 3
    assert vocab.add("a") == 2  # existing ids keep their index
    assert vocab.decode([PAD]) == [PAD_TOKEN]
    assert PAD_TOKEN not in vocab
    assert len(Vocabulary()) == 1


def test_vocabulary_encode_decode_round_trip() -> None:
    vocab = Vocabulary(["x", "y", "z"])
    codes = vocab.encode(["z", "x", "z"])
    assert codes.dtype == np.int64
    assert codes.tolist() == [3, 1, 3]
    assert vocab.decode(codes) == ["z", "x", "z"]
    assert vocab.encode(["x", "nope", "y"], skip_unknown=True).tolist() == [1, 2]
    assert vocab.get("nope") is None


def test_vocabulary_unknown_ids_raise_naming_the_id() -> None:
    vocab = Vocabulary(["x"])
    with pytest.raises(KeyError, match="unknown id 'q'"):
        vocab.index("q")
    with pytest.raises(KeyError, match="unknown id 'q'"):
        vocab.encode(["x", "q"])


def test_vocabulary_save_load(tmp_path: Path) -> None:
    vocab = Vocabulary(["10", "2", "item with space"])
    vocab.save(tmp_path / "vocab.json")
    loaded = Vocabulary.load(tmp_path / "vocab.json")
    assert loaded == vocab
    assert loaded.index("item with space") == 3
    assert Vocabulary.from_json(vocab.to_json()) == vocab
    assert vocab != Vocabulary(["2", "10", "item with space"])


# -- Dataset.from_frame ------------------------------------------------------------------------
def timed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u1", "u1", "u1", "u1"],
            "item_id": ["a", "b", "b", "c", "d", "a"],
            "timestamp": [3, 1, 1, 3, 2, 9],
        }
    )


def test_from_frame_sorts_by_time_and_keeps_ties_in_input_order() -> None:
    data = Dataset.from_frame(timed_frame(), name="t")
    assert data.users.ids == ["u1", "u2"]
    assert data.items.ids == ["a", "b", "c", "d"]  # first appearance
    # u1: b@1, d@2, a@3 then c@3 (input order), a@9
    assert data.sequences[0].tolist() == []
    assert data.sequences[1].tolist() == [2, 4, 1, 3, 1]
    assert data.sequences[2].tolist() == [2]
    assert data.timestamps is not None
    assert data.timestamps[1].tolist() == [1.0, 2.0, 3.0, 3.0, 9.0]
    assert (data.n_users, data.n_items, data.n_interactions) == (2, 4, 6)


def test_from_frame_without_time_keeps_row_order() -> None:
    frame = timed_frame().drop(columns="timestamp")
    data = Dataset.from_frame(frame)
    assert data.items.decode(data.sequences[1]) == ["a", "b", "c", "d", "a"]
    assert data.timestamps is None


def test_from_frame_datetime_timestamps_are_epoch_seconds() -> None:
    frame = timed_frame()
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="D", utc=True)
    for unit in ("s", "us", "ns"):
        frame["timestamp"] = frame["timestamp"].dt.as_unit(unit)
        data = Dataset.from_frame(frame)
        assert data.timestamps is not None
        assert data.timestamps[1].tolist() == [86400.0, 172800.0, 259200.0, 259200.0, 777600.0]


def test_matrix_shape_and_counts() -> None:
    data = Dataset.from_frame(timed_frame())
    m = data.matrix
    assert m.shape == (3, 5)
    expected = np.array([[0, 0, 0, 0, 0], [0, 2, 1, 1, 1], [0, 0, 1, 0, 0]], dtype=np.float32)
    np.testing.assert_array_equal(m.toarray(), expected)
    assert data.item_counts.tolist() == [0, 2, 2, 1, 1]


def test_from_frame_missing_column() -> None:
    with pytest.raises(InputError, match="missing column 'item_id'") as err:
        Dataset.from_frame(pd.DataFrame({"user_id": ["u"], "item": ["a"]}), name="clicks")
    assert (err.value.source, err.value.field) == ("clicks", "item_id")


def test_from_frame_rows_without_ids() -> None:
    frame = pd.DataFrame({"user_id": ["u", None], "item_id": ["a", "b"]})
    with pytest.raises(InputError, match="missing user_id or item_id") as err:
        Dataset.from_frame(frame, name="clicks")
    assert (err.value.source, err.value.line) == ("clicks", 2)


def catalog() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": ["phone", "case", "cold"],
            "title": ["Galaxy S23", "Case", "Snow boots"],
            "category": [["Electronics", "Phones"], "Accessories", []],
            "brand": ["Samsung", None, "Alpine"],
            "description": ["A phone.", "", None],
            "price": [799.0, 19.0, None],
            "available": [True, False, True],
        }
    )


def test_catalog_items_without_events_are_in_the_vocabulary() -> None:
    events = pd.DataFrame({"user_id": ["u", "u"], "item_id": ["case", "mystery"]})
    data = Dataset.from_frame(events, catalog())
    assert data.items.ids == ["phone", "case", "cold", "mystery"]  # catalog order, then new
    assert data.item_counts.tolist() == [0, 0, 1, 0, 1]
    assert data.matrix.shape == (2, 5)
    assert data.item_text == [
        "",
        "Galaxy S23. Electronics > Phones. Samsung. A phone.",
        "Case. Accessories",
        "Snow boots. Alpine",
        "",
    ]
    info = data.item_info
    assert info is not None
    assert info["available"].tolist() == [False, True, False, True, False]
    assert info["price"][1] == 799.0
    assert info["brand"][3] == "Alpine"


def test_explicit_text_wins_and_missing_text_falls_back() -> None:
    items = catalog().assign(text=["Custom phone text", None, np.nan])
    data = Dataset.from_frame(pd.DataFrame({"user_id": ["u"], "item_id": ["phone"]}), items)
    assert data.item_text[1:] == ["Custom phone text", "Case. Accessories", "Snow boots. Alpine"]
    assert item_text_of({"title": "T", "category": ("A", "B")}) == "T. A > B"


def test_dataset_rejects_misaligned_sequences() -> None:
    data = Dataset.from_frame(timed_frame(), name="t")
    with pytest.raises(DataError, match="2 sequences for 3 user slots"):
        data.with_sequences(data.sequences[:2])
    shorter = data.with_sequences([s[:1] for s in data.sequences], name="t/short")
    assert (shorter.n_interactions, shorter.name, shorter.timestamps) == (2, "t/short", None)


# -- Dataset.from_store ------------------------------------------------------------------------
T0 = datetime(2024, 5, 1, tzinfo=UTC)


def event(i: int, user: str, item: str | None, kind: str, minutes: int) -> Event:
    return Event(
        event_id=f"e{i}",
        user_id=user,
        item_id=item,
        kind=EventKind(kind),
        query="boots" if kind == "search" else None,
        timestamp=T0 + timedelta(minutes=minutes),
    )


def test_from_store_snapshot(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "shop.db")
    store.upsert_items(
        [
            Item(
                id="phone", title="Galaxy S23", category=["Electronics", "Phones"], brand="Samsung"
            ),
            Item(id="case", title="Case", price=19),
            Item(id="boots", title="Snow boots", available=False),
        ]
    )
    store.append_events(
        [
            event(1, "ann", "case", "purchase", 5),
            event(2, "ann", "phone", "view", 0),
            event(3, "bob", "phone", "impression", 1),  # not a positive kind
            event(4, "bob", None, "search", 2),
            event(5, "ann", "phone", "add_to_cart", 5),  # same time as e1: insertion order
            event(6, "bob", "case", "click", 3),
            event(7, "bob", "ghost", "view", 4),
        ],
        unknown_items="placeholder",
    )
    data = Dataset.from_store(store, name="shop")
    store.close()
    assert data.name == "shop"
    assert data.items.ids == ["boots", "case", "ghost", "phone"]  # every catalog item, by id
    assert {u: data.items.decode(data.sequences[data.users.index(u)]) for u in data.users.ids} == {
        "ann": ["phone", "case", "phone"],
        "bob": ["case", "ghost"],
    }
    assert data.timestamps is not None
    start = T0.timestamp()
    assert (data.timestamps[data.users.index("ann")] - start).tolist() == [0.0, 300.0, 300.0]
    assert data.item_text[data.items.index("phone")] == "Galaxy S23. Electronics > Phones. Samsung"
    assert data.item_counts[data.items.index("boots")] == 0
    assert data.item_info is not None
    assert data.item_info["available"][data.items.index("boots")] == False  # noqa: E712
