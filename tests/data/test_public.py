"""Loaders of public dataset formats, on tiny files written by the tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cartwise.data.dataset import Dataset
from cartwise.data.sources.public import (
    load_amazon_user_sequence,
    load_dataset,
    load_movielens,
    load_recbole,
    load_sasrec_ml1m,
    load_unisrec,
    load_user_item_txt,
)
from cartwise.data.split import leave_last_out
from cartwise.errors import InputError


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


def seqs(data: Dataset) -> dict[str, list[str]]:
    """External user id → external item ids, oldest first."""
    return {u: data.items.decode(data.sequences[data.users.index(u)]) for u in data.users.ids}


def text_of(data: Dataset, item: str) -> str:
    return data.item_text[data.items.index(item)]


# -- fixture folders (also used by the dispatcher tests) -------------------------------------
def make_txt(root: Path) -> Path:
    write(root / "SOURCE.txt", "not data\n")
    write(root / "beauty.txt", "1 10\n1 11\n2 11\n\n1 12\n2 13\n")
    return root


def make_ml100k(root: Path) -> Path:
    write(root / "u.data", "1\t20\t5\t300\n1\t10\t3\t100\n2\t20\t4\t50\n1\t30\t4\t100\n")
    flags = ["0"] * 19
    toy, heat, cold = flags.copy(), flags.copy(), flags.copy()
    toy[3] = toy[5] = "1"  # Animation, Comedy
    heat[1] = "1"  # Action
    rows = [
        ["10", "Toy Story (1995)", "01-Jan-1995", "", "http://x", *toy],
        ["20", "Heat (1995)", "01-Jan-1995", "", "http://x", *heat],
        ["30", "Café (1996)", "", "", "", *flags],
        ["40", "Never Rated (1997)", "", "", "", *cold],
    ]
    write(root / "u.item", "".join("|".join(r) + "\n" for r in rows), encoding="latin-1")
    return root


def make_recbole(root: Path) -> Path:
    write(
        root / "toy.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "7\ta\t3\t20\n7\tb\t4\t10\n8\ta\t5\t5\n7\tc\t1\t10\n",
    )
    write(
        root / "toy.item",
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "a\tToy Story\t1995\tAnimation Children's Comedy\nb\tHeat\t\tAction\nc\tNo Genre\t2000\t\n",
    )
    return root


def make_unisrec(root: Path, full: dict[str, list[str]], max_len: int = 50) -> Path:
    """UniSRec files for `full` sequences: newest-first prefix-augmented training rows."""
    items = sorted({i for s in full.values() for i in s})
    item_idx = {a: str(k) for k, a in enumerate(items)}
    user_idx = {u: str(k) for k, u in enumerate(full)}
    head = "user_id:token\titem_id_list:token_seq\titem_id:token\n"
    parts: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    for user, seq in full.items():
        ids = [item_idx[i] for i in seq]
        n = len(ids)
        for pos in range(n - 3, 0, -1):
            parts["train"].append(_row(user_idx[user], ids, pos, max_len))
        parts["valid"].append(_row(user_idx[user], ids, n - 2, max_len))
        parts["test"].append(_row(user_idx[user], ids, n - 1, max_len))
    for split, rows in parts.items():
        write(root / f"Toy.{split}.inter", head + "".join(rows))
    write(root / "Toy.item2index", "".join(f"{a}\t{k}\n" for a, k in item_idx.items()))
    write(root / "Toy.user2index", "".join(f"{u}\t{k}\n" for u, k in user_idx.items()))
    text = "".join(f"{a}\tTitle {a}. Cat. Brand. \n" for a in reversed(items))
    write(root / "Toy.text", "item_id:token\ttext:token_seq\n" + text)
    return root


def _row(user: str, ids: list[str], pos: int, max_len: int) -> str:
    return f"{user}\t{' '.join(ids[max(0, pos - max_len) : pos])}\t{ids[pos]}\n"


def make_amazon(root: Path) -> Path:
    write(root / "user_sequence.txt", "U1 B1 B2 B3\nU2 B2 B4\n")
    write(root / "items_titles.tsv", "asin\ttitle\nB1\tLip Balm\nB2\tShampoo\nB3\tSoap\nB4\tComb\n")
    return root


def make_sasrec_ml1m(root: Path) -> Path:
    write(root / "ml-1m.txt", "1 1\n1 2\n2 2\n1 3\n")
    write(root / "sas_to_original_items.txt", "1 50\n2 7\n3 99\n")
    movies = (
        "7::Sabrina (1995)::Comedy|Romance\n50::Léon (1994)::Crime|Drama\n99::X (1999)::Drama\n"
    )
    write(root / "movies.dat", movies, encoding="latin-1")
    return root


# -- "user item" text ------------------------------------------------------------------------
def test_user_item_txt_keeps_file_order(tmp_path: Path) -> None:
    data = load_user_item_txt(make_txt(tmp_path) / "beauty.txt")
    assert data.name == "beauty"
    assert seqs(data) == {"1": ["10", "11", "12"], "2": ["11", "13"]}
    assert data.items.ids == ["10", "11", "12", "13"]
    assert data.timestamps is None


def test_user_item_txt_third_column_orders_with_stable_ties(tmp_path: Path) -> None:
    path = write(tmp_path / "t.txt", "u a 5\nu b 1\nu c 5\nu d 1\n")
    data = load_user_item_txt(path, name="timed")
    assert seqs(data) == {"u": ["b", "d", "a", "c"]}
    assert data.timestamps is not None
    assert data.timestamps[1].tolist() == [1.0, 1.0, 5.0, 5.0]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("1 1\n1 2\n3\n", 3, "missing field"),
        ("1 1\n1 2 3\n", 2, "3 fields"),
        ("1 1 10\n1 2 x\n", 2, "not a number"),
        ("1\n2\n", 1, "1 fields"),
    ],
)
def test_user_item_txt_malformed_lines(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path / "bad.txt", text)
    with pytest.raises(InputError, match=words) as err:
        load_user_item_txt(path)
    assert err.value.line == line
    assert err.value.source == str(path)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_user_item_txt(tmp_path / "absent.txt")
    with pytest.raises(InputError, match="no data lines"):
        load_user_item_txt(write(tmp_path / "empty.txt", ""))
    with pytest.raises(InputError, match="no data lines"):
        load_user_item_txt(write(tmp_path / "blank.txt", "\n  \n\n"))
    with pytest.raises(InputError, match="no data lines"):
        load_recbole(write(tmp_path / "head.inter", "user_id:token\titem_id:token\n"))


# -- MovieLens -------------------------------------------------------------------------------
def test_ml100k_original_files(tmp_path: Path) -> None:
    data = load_movielens(make_ml100k(tmp_path))
    # user 1: t=100 (10, then 30 in file order), t=300 (20)
    assert seqs(data) == {"1": ["10", "30", "20"], "2": ["20"]}
    assert text_of(data, "10") == "Toy Story (1995). Animation, Comedy"
    assert text_of(data, "30") == "Café (1996)"
    assert "40" in data.items  # catalog item without ratings: cold start
    assert data.item_counts[data.items.index("40")] == 0
    assert data.item_info is not None
    assert data.item_info["category"][data.items.index("20")] == ["Action"]


def test_ml100k_bad_rating_line(tmp_path: Path) -> None:
    path = write(tmp_path / "u.data", "1\t2\t3\t4\n1\t2\t3\n")
    with pytest.raises(InputError, match="missing field") as err:
        load_movielens(path)
    assert err.value.line == 2


def test_recbole_atomic_files(tmp_path: Path) -> None:
    make_recbole(tmp_path)
    for data in (load_recbole(tmp_path / "toy"), load_movielens(tmp_path / "toy.inter")):
        assert seqs(data) == {"7": ["b", "c", "a"], "8": ["a"]}
        assert text_of(data, "a") == "Toy Story (1995). Animation, Children's, Comedy"
        assert text_of(data, "b") == "Heat. Action"
        assert text_of(data, "c") == "No Genre (2000)"
    assert load_recbole(tmp_path).name == "toy"


def test_recbole_extra_field_names_the_file_line(tmp_path: Path) -> None:
    path = write(tmp_path / "x.inter", "user_id:token\titem_id:token\n1\t2\n1\t3\t9\n")
    with pytest.raises(InputError, match="3 fields where the first line has 2") as err:
        load_recbole(path)
    assert err.value.line == 3


def test_u_genre_must_match_the_flags(tmp_path: Path) -> None:
    make_ml100k(tmp_path)
    write(tmp_path / "u.genre", "unknown|0\nAction|1\n")
    with pytest.raises(InputError, match="2 genres for 19 genre flags"):
        load_movielens(tmp_path)


def test_recbole_without_user_column(tmp_path: Path) -> None:
    path = write(tmp_path / "x.inter", "uid:token\titem_id:token\n1\t2\n")
    with pytest.raises(InputError, match="no column 'user_id'") as err:
        load_recbole(path)
    assert err.value.field == "user_id"


def test_ml_latest_csv(tmp_path: Path) -> None:
    write(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\n1,2,4.0,20\n1,1,3.5,10\n")
    write(
        tmp_path / "movies.csv",
        'movieId,title,genres\n1,"American President, The (1995)",Comedy|Drama|Romance\n'
        "2,Untitled (2019),(no genres listed)\n",
    )
    data = load_movielens(tmp_path)
    assert seqs(data) == {"1": ["1", "2"]}
    assert text_of(data, "1") == "American President, The (1995). Comedy, Drama, Romance"
    assert text_of(data, "2") == "Untitled (2019)"


def test_ml_latest_bad_timestamp(tmp_path: Path) -> None:
    write(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\n1,2,4,20\n1,1,3,soon\n")
    with pytest.raises(InputError, match="'soon' is not a number") as err:
        load_movielens(tmp_path / "ratings.csv")
    assert (err.value.line, err.value.field) == (3, "timestamp")


def test_ml1m_dat_files(tmp_path: Path) -> None:
    write(tmp_path / "ratings.dat", "1::3::5::978300760\n1::1::3::978300000\n2::3::4::1\n")
    write(
        tmp_path / "movies.dat", "1::Léon (1994)::Crime|Drama\n3::Heat (1995)::Action\n", "latin-1"
    )
    data = load_movielens(tmp_path / "ratings.dat")
    assert seqs(data) == {"1": ["1", "3"], "2": ["3"]}
    assert text_of(data, "1") == "Léon (1994). Crime, Drama"


@pytest.mark.parametrize("line", ["1::2::3:4", "1:2::3::4"])
def test_ml1m_dat_needs_double_colons(tmp_path: Path, line: str) -> None:
    write(tmp_path / "ratings.dat", f"1::3::5::9\n{line}\n")
    with pytest.raises(InputError, match="user::item::rating::timestamp") as err:
        load_movielens(tmp_path)
    assert err.value.line == 2


def test_movies_dat_malformed(tmp_path: Path) -> None:
    write(tmp_path / "ratings.dat", "1::3::5::9\n")
    write(tmp_path / "movies.dat", "3::Heat (1995)::Action\n4::Broken\n", "latin-1")
    with pytest.raises(InputError, match="id::title::genre") as err:
        load_movielens(tmp_path)
    assert err.value.line == 2


def test_ratings_parquet(tmp_path: Path) -> None:
    ratings = pd.DataFrame({"userId": [5, 5, 6], "movieId": [9, 8, 9], "timestamp": [2, 1, 1]})
    ratings.to_parquet(tmp_path / "ratings.parquet")
    movies = pd.DataFrame(
        {"movieId": [8, 9], "title": ["A (1990)", "B (1991)"], "genres": ["X", ""]}
    )
    movies.to_parquet(tmp_path / "movies.parquet")
    data = load_movielens(tmp_path)
    assert seqs(data) == {"5": ["8", "9"], "6": ["9"]}
    assert (text_of(data, "8"), text_of(data, "9")) == ("A (1990). X", "B (1991)")


def test_movielens_folder_without_ratings(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no MovieLens ratings file"):
        load_movielens(tmp_path)


# -- SASRec ML-1M, UniSRec, Amazon user sequences ---------------------------------------------
def test_sasrec_ml1m_joins_titles_through_mapping(tmp_path: Path) -> None:
    data = load_sasrec_ml1m(make_sasrec_ml1m(tmp_path))
    assert data.items.ids == ["1", "2", "3"]  # index = SASRec id
    assert seqs(data) == {"1": ["1", "2", "3"], "2": ["2"]}
    assert data.item_text[1:] == [
        "Léon (1994). Crime, Drama",
        "Sabrina (1995). Comedy, Romance",
        "X (1999). Drama",
    ]


@pytest.mark.parametrize("max_len", [50, 2])
def test_unisrec_rebuilds_sequences_and_split(tmp_path: Path, max_len: int) -> None:
    full = {"UA": ["p", "q", "r", "s", "t", "u"], "UB": ["s", "p", "x"], "UC": list("abcdp")}
    data = load_unisrec(make_unisrec(tmp_path, full, max_len))
    assert data.name == "Toy"
    assert seqs(data) == full
    assert data.users.ids == ["UA", "UB", "UC"]
    assert data.items.ids == sorted({i for s in full.values() for i in s})  # item2index order
    assert text_of(data, "q") == "Title q. Cat. Brand."
    split = leave_last_out(data)
    assert [data.items.decode(t)[0] for t in split.valid.targets] == ["t", "p", "d"]
    assert [data.items.decode(t)[0] for t in split.test.targets] == ["u", "x", "p"]
    assert data.items.decode(split.train.sequences[1]) == ["p", "q", "r", "s"]


def test_unisrec_inconsistent_history(tmp_path: Path) -> None:
    root = make_unisrec(tmp_path, {"UA": ["p", "q", "r", "s"]})
    write(
        root / "Toy.test.inter",
        "user_id:token\titem_id_list:token_seq\titem_id:token\n0\t1 0 2\t3\n",
    )
    with pytest.raises(InputError, match="user '0'.*prefix splits"):
        load_unisrec(root)


def test_amazon_user_sequence(tmp_path: Path) -> None:
    data = load_amazon_user_sequence(make_amazon(tmp_path))
    assert seqs(data) == {"U1": ["B1", "B2", "B3"], "U2": ["B2", "B4"]}
    assert text_of(data, "B4") == "Comb"


def test_amazon_user_without_items(tmp_path: Path) -> None:
    write(tmp_path / "user_sequence.txt", "U1 B1 B2\nU2\n")
    with pytest.raises(InputError, match="user 'U2' has no items") as err:
        load_amazon_user_sequence(tmp_path)
    assert err.value.line == 2


# -- dispatcher ------------------------------------------------------------------------------
MAKERS: dict[str, Callable[[Path], Path]] = {
    "txt": make_txt,
    "ml100k": make_ml100k,
    "recbole": make_recbole,
    "unisrec": lambda root: make_unisrec(root, {"UA": ["p", "q", "r"]}),
    "amazon": make_amazon,
    "sasrec": make_sasrec_ml1m,
}
EXPECTED = {"txt": 4, "ml100k": 4, "recbole": 3, "unisrec": 3, "amazon": 4, "sasrec": 3}


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_load_dataset_detects_folder_format(tmp_path: Path, kind: str) -> None:
    root = MAKERS[kind](tmp_path / kind)
    data = load_dataset(root)
    assert data.name == kind
    assert data.n_items == EXPECTED[kind]


def test_load_dataset_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_amazon(tmp_path / "amazon-beauty-text")
    monkeypatch.setenv("CARTWISE_DATASETS", str(tmp_path))
    data = load_dataset("amazon-beauty-text")
    assert (data.name, data.n_users, data.n_interactions) == ("amazon-beauty-text", 2, 5)
    with pytest.raises(InputError, match="available: amazon-beauty-text"):
        load_dataset("no-such-set")


def test_load_dataset_files(tmp_path: Path) -> None:
    make_txt(tmp_path)
    assert load_dataset(tmp_path / "beauty.txt").n_interactions == 5
    make_recbole(tmp_path / "rb")
    assert load_dataset(tmp_path / "rb" / "toy.inter").name == "toy"


def test_load_dataset_unknown_format(tmp_path: Path) -> None:
    write(tmp_path / "data.json", "{}")
    with pytest.raises(InputError, match="unknown dataset format; supported: .*RecBole"):
        load_dataset(tmp_path)
    with pytest.raises(InputError, match="UniSRec"):
        load_dataset(tmp_path / "data.json")


def test_loaded_arrays_are_int64(tmp_path: Path) -> None:
    data = load_user_item_txt(make_txt(tmp_path) / "beauty.txt")
    assert all(s.dtype == np.int64 for s in data.sequences)
