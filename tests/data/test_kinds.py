"""Event kinds: shop-declared kinds in the store, kind maps on file import, kinds in datasets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cartwise.data.dataset import Dataset
from cartwise.data.ingest.files import ingest_file, parse_kind_map
from cartwise.data.schema import Event, EventKind, Item
from cartwise.data.store import Store
from cartwise.errors import DataError, IngestError, InputError

T0 = datetime(2024, 5, 1, tzinfo=UTC)
#: a multi-behaviour export in the shape of Taobao's UserBehavior file
SHOP_FILE = (
    "user_id,item_id,behavior,timestamp\n"
    "1,10,pv,1511544070\n"
    "1,10,cart,1511544080\n"
    "1,11,fav,1511544090\n"
    "1,10,buy,1511544100\n"
    "2,11,PV,1511544200\n"
)
MAPPING = {"kind": "behavior"}


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A catalog of five items, on SQLite and on PostgreSQL."""
    found = Store.open(store_url)
    found.upsert_items([Item(id=i) for i in ("10", "11", "phone", "case", "ink")])
    yield found
    found.close()


def event(i: int, user: str, item: str | None, kind: str, minutes: int = 0) -> Event:
    return Event(
        event_id=f"e{i}",
        user_id=user,
        item_id=item,
        kind=kind,
        query="ink" if kind == "search" else None,
        timestamp=T0 + timedelta(minutes=minutes),
    )


# -- declared kinds in the store ---------------------------------------------------------------
def test_declared_kinds_are_listed_after_the_built_in_ones(store: Store) -> None:
    assert store.declare_kind("wishlist", positive=False).positive is False
    assert store.declare_kind(" favourite ").name == "favourite"
    kinds = store.event_kinds()
    assert [k.name for k in kinds] == [k.value for k in EventKind] + ["favourite", "wishlist"]
    assert [(k.builtin, k.created_at is None) for k in kinds[-3:]] == [
        (True, True), (False, False), (False, False)
    ]  # fmt: skip
    again = store.declare_kind("wishlist", positive=True)  # declaring again updates
    assert again.positive and again.created_at == kinds[-1].created_at
    assert "wishlist" in store.positive_kinds() and "return" not in store.positive_kinds()


@pytest.mark.parametrize(
    ("name", "message"),
    [("view", "built-in kind and needs no declaration"), ("Fav Item", "cannot be a kind name")],
)
def test_bad_declarations_raise(store: Store, name: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        store.declare_kind(name)
    assert [k.builtin for k in store.event_kinds()] == [True] * len(EventKind)


def test_the_store_accepts_declared_kinds_only(store: Store) -> None:
    with pytest.raises(InputError, match="line 2, field 'kind'.*unknown event kind 'favourite'"):
        store.append_events([event(1, "u", "phone", "view"), event(2, "u", "case", "favourite")])
    assert store.counts()["events"] == 0  # all or nothing
    store.declare_kind("favourite")
    store.append_events([event(1, "u", "phone", "view"), event(2, "u", "case", "favourite", 1)])
    assert [e.kind for e in store.user_events("u")] == [EventKind.VIEW, "favourite"]
    assert store.events_frame(kinds=["favourite"])["item_id"].tolist() == ["case"]


# -- kind maps on file import ------------------------------------------------------------------
def test_parse_kind_map_commas_repeats_and_errors() -> None:
    got = parse_kind_map(["pv=view,cart=add_to_cart", " BUY = purchase "])
    assert got == {"pv": "view", "cart": "add_to_cart", "buy": "purchase"}
    with pytest.raises(InputError, match="bad kind mapping 'pv'"):
        parse_kind_map(["pv"])
    with pytest.raises(InputError, match="'pv' is mapped twice"):
        parse_kind_map(["pv=view", "pv=click"])


def test_an_unmapped_shop_kind_is_a_line_error_naming_the_fix(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "behaviour.csv"
    path.write_text(SHOP_FILE)
    with pytest.raises(IngestError) as caught:
        ingest_file(store, "events", path, mapping=MAPPING)
    error = caught.value
    assert (error.line, error.field) == (2, "behavior")  # the file's column
    assert "unknown event kind 'pv'" in str(error)
    assert "--kind-map pv=KIND" in str(error) and "cartwise kinds add pv" in str(error)
    mapped = {"pv": "view", "cart": "add_to_cart", "buy": "purchase"}
    with pytest.raises(IngestError, match="unknown event kind 'fav'") as caught:
        ingest_file(store, "events", path, mapping=MAPPING, kind_map=mapped)
    assert caught.value.line == 4
    assert store.counts()["events"] == 0  # a rejected import leaves the store unchanged


def test_mapped_and_declared_kinds_import(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "behaviour.csv"
    path.write_text(SHOP_FILE)
    with pytest.raises(InputError, match="'favourite' is not an event kind.*kinds add favourite"):
        ingest_file(store, "events", path, mapping=MAPPING, kind_map={"fav": "favourite"})
    store.declare_kind("favourite")
    kind_map = parse_kind_map(["pv=view,cart=add_to_cart,buy=purchase", "fav=favourite"])
    summary = ingest_file(store, "events", path, mapping=MAPPING, kind_map=kind_map)
    assert summary.inserted == 5
    assert [str(e.kind) for e in store.user_events("1")] == [
        "view", "add_to_cart", "favourite", "purchase"
    ]  # fmt: skip
    assert [str(e.kind) for e in store.user_events("2")] == ["view"]  # values match any case
    again = ingest_file(store, "events", path, mapping=MAPPING, kind_map=kind_map)
    assert (again.inserted, again.duplicates) == (0, 5)


def test_a_declared_kind_can_be_the_default_kind(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "wishes.csv"
    path.write_text("user_id,item_id,timestamp\nu,ink,2024-01-01\n")
    with pytest.raises(InputError, match="default_kind='wish' is not a valid choice"):
        ingest_file(store, "events", path, default_kind="wish")
    store.declare_kind("wish", positive=False)
    assert ingest_file(store, "events", path, default_kind="wish").inserted == 1


# -- kinds in datasets -------------------------------------------------------------------------
def shop(store: Store) -> Store:
    store.declare_kind("favourite")
    store.declare_kind("wishlist", positive=False)
    store.append_events(
        [
            event(1, "ann", "phone", "view", 0),
            event(2, "ann", "phone", "purchase", 1),
            event(3, "ann", "case", "favourite", 2),
            event(4, "ann", "case", "wishlist", 3),
            event(5, "ann", "phone", "return", 4),
            event(6, "ann", None, "search", 5),
            event(7, "ann", "ink", "impression", 6),
            event(8, "bob", "ink", "purchase", 0),
            event(9, "bob", "ink", "purchase", 60),
            event(10, "bob", "phone", "remove_from_cart", 61),
        ]
    )
    return store


def test_from_store_selects_kinds_and_carries_them(store: Store) -> None:
    positive = Dataset.from_store(shop(store))
    behaviour = Dataset.from_store(store, kinds="behaviour")
    ann, bob = positive.users.index("ann"), positive.users.index("bob")
    assert positive.items.decode(positive.sequences[ann]) == ["phone", "phone", "case"]
    assert positive.kind_vocab is not None and positive.kinds is not None
    assert positive.kind_vocab.decode(positive.kinds[ann]) == ["view", "purchase", "favourite"]
    assert behaviour.kind_vocab is not None and behaviour.kinds is not None
    assert behaviour.kind_vocab.decode(behaviour.kinds[behaviour.users.index("ann")]) == [
        "view", "purchase", "favourite", "wishlist", "return"
    ]  # fmt: skip
    assert behaviour.kind_vocab.ids == [
        "view", "remove_from_cart", "purchase", "return", "favourite", "wishlist"
    ]  # built-in kinds first, in their order, then the declared ones by name  # fmt: skip
    assert positive.items.decode(positive.sequences[bob]) == ["ink", "ink"]
    only = Dataset.from_store(store, kinds=["return"])
    assert only.n_interactions == 1
    with pytest.raises(InputError, match="kinds='everything'"):
        Dataset.from_store(store, kinds="everything")  # type: ignore[arg-type]


def test_repurchase_rates_borrow_the_category_habit() -> None:
    frame = pd.DataFrame(
        [
            ("a", "ink1", "purchase"), ("a", "ink1", "purchase"),  # a buys ink1 twice
            ("b", "ink1", "purchase"),
            ("c", "ink2", "purchase"),
            ("a", "phone", "purchase"), ("b", "phone", "view"), ("b", "phone", "view"),
        ],
        columns=["user_id", "item_id", "kind"],
    )  # fmt: skip
    catalog = pd.DataFrame(
        {
            "item_id": ["ink1", "ink2", "phone", "tv"],
            "category": [["Office", "Ink"], ["Office", "Ink"], ["Phones"], ["TV"]],
        }
    )
    data = Dataset.from_frame(frame, catalog)
    rates = data.repurchase_rates(prior_weight=2.0)
    ink = 1 / 3  # ink: 3 buyers, 1 bought again
    idx = data.items.index
    assert rates[idx("ink1")] == pytest.approx((1 + 2 * ink) / (2 + 2))
    assert rates[idx("ink2")] == pytest.approx((0 + 2 * ink) / (1 + 2))
    assert rates[idx("phone")] == 0.0  # viewed twice, bought once: no repeat
    assert rates[idx("tv")] == pytest.approx(0.25)  # nobody bought it: the overall share, 1/4
    assert rates[0] == 0.0
    no_kinds = Dataset.from_frame(frame.drop(columns="kind"))
    assert not no_kinds.repurchase_rates().any()


def test_select_and_only_kinds_keep_times_and_kinds_aligned() -> None:
    frame = pd.DataFrame(
        {
            "user_id": ["u"] * 4,
            "item_id": list("abcd"),
            "kind": ["view", "purchase", "view", "return"],
            "timestamp": [1.0, 2.0, 3.0, 4.0],
        }
    )
    data = Dataset.from_frame(frame)
    views = data.only_kinds(["view", "no-such-kind"])
    assert views.items.decode(views.sequences[1]) == ["a", "c"]
    assert views.timestamps is not None and views.timestamps[1].tolist() == [1.0, 3.0]
    assert views.kind_vocab is data.kind_vocab and views.kinds is not None
    with pytest.raises(DataError, match="not aligned"):
        data.with_sequences(data.sequences, [np.zeros(1)] * len(data.sequences))
    bare = data.with_sequences(data.sequences)
    assert bare.kinds is None and bare.kind_vocab is None
    with pytest.raises(DataError, match="no event kinds"):
        bare.only_kinds(["view"])


def test_a_behaviour_log_loads_through_the_kind_map(tmp_path: Path) -> None:
    from cartwise.data.sources.public import load_dataset

    folder = tmp_path / "shop-log"
    folder.mkdir()
    (folder / "events.csv").write_text(
        "user_id,item_id,category_id,behavior,timestamp\n"
        "1,10,7,pv,100\n1,10,7,buy,160\n1,11,8,fav,130\n2,11,8,cart,100\n"
    )
    data = load_dataset(folder)
    assert data.name == "shop-log" and data.kind_vocab is not None and data.kinds is not None
    assert data.kind_vocab.decode(data.kinds[data.users.index("1")]) == [
        "view", "favourite", "purchase"
    ]  # by time  # fmt: skip
    assert data.item_info is not None and data.item_info["category"].tolist()[1:] == [["7"], ["8"]]
    (folder / "events.csv").write_text(
        "user_id,item_id,category_id,behavior,timestamp\n1,10,7,pv,100\n1,10,7,share,101\n"
    )
    with pytest.raises(InputError, match="line 3, field 'behavior': unknown event kind 'share'"):
        load_dataset(folder)
