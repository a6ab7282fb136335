"""Loaders for public recommendation datasets, in the formats they are published in.

Every loader reads local files only and returns a :class:`~cartwise.data.dataset.Dataset`.
Sequences are chronological: by timestamp where the format has one (ties keep file order),
otherwise in file order. Malformed input raises :class:`~cartwise.errors.InputError` naming the
file, the line and the fix. :func:`load_dataset` picks the loader from a path or from the name of
a folder under :func:`datasets_dir`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import pandas as pd

from cartwise.data.dataset import Dataset
from cartwise.data.sources.behaviour import is_behaviour_file, load_behaviour_csv
from cartwise.errors import InputError

_log = logging.getLogger(__name__)

SUPPORTED_FORMATS: tuple[str, ...] = (
    "'user item [timestamp]' per line, SASRec/BERT4Rec (*.txt)",
    "SASRec ML-1M folder (ml-1m.txt + sas_to_original_items.txt + movies.dat)",
    "MovieLens ml-100k (u.data + u.item), ml-1m (ratings.dat + movies.dat), "
    "ml-latest (ratings.csv + movies.csv) or a ratings Parquet (ratings.parquet)",
    "RecBole atomic files (<name>.inter + optional <name>.item)",
    "UniSRec (<name>.train.inter, .valid.inter, .test.inter, <name>.text, index maps)",
    "Amazon user sequences (user_sequence.txt + items_titles.tsv)",
    "multi-behaviour log, Taobao UserBehavior (events.csv: user_id,item_id,category_id,"
    "behavior,timestamp; behaviours pv/cart/fav/buy)",
)

ML100K_GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip

_QUOTE_NONE: Literal[3] = 3  # csv.QUOTE_NONE, typed for pandas' stubs
_QUOTE_MINIMAL: Literal[0] = 0  # csv.QUOTE_MINIMAL
_NOT_DATA = {"source.txt", "readme.txt", "license.txt"}


def datasets_dir() -> Path:
    """Folder of the shared public datasets.

    ``$CARTWISE_DATASETS`` when set, else ``<repo>/../shared/datasets``.
    """
    env = os.environ.get("CARTWISE_DATASETS")
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[4]  # src/cartwise/data/sources/public.py
    return repo.parent / "shared" / "datasets"


# -- reading helpers -------------------------------------------------------------------------
def _read(
    path: Path,
    *,
    sep: str,
    header: int | None = None,
    encoding: str = "utf-8",
    quoting: Literal[0, 1, 2, 3] = _QUOTE_NONE,
    allow_empty: bool = False,
) -> pd.DataFrame:
    """Every field as a string (NaN when empty); the index is the 1-based line number.

    Blank lines are skipped; a file without data lines is an InputError unless `allow_empty`.
    """
    if not path.is_file():
        raise InputError("file not found; check the path", source=str(path))
    try:
        frame = pd.read_csv(
            path, sep=sep, header=header, dtype=str, encoding=encoding, quoting=quoting,
            skip_blank_lines=False, keep_default_na=False, na_values=[""],
        )  # fmt: skip
    except pd.errors.EmptyDataError:
        raise InputError("no data lines; the file is empty or blank", source=str(path)) from None
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if not found:
            raise InputError(f"cannot parse: {exc}", source=str(path)) from None
        want, line, saw = (int(g) for g in found.groups())
        raise InputError(
            f"{saw} fields where the first line has {want}; give every line the same fields",
            source=str(path),
            line=line,
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not {encoding} text ({exc.reason} at byte {exc.start}); convert it to {encoding}",
            source=str(path),
        ) from None
    frame.index = frame.index + (1 if header is None else header + 2)
    frame = frame[~frame.isna().all(axis=1)]  # blank lines
    if frame.empty and not allow_empty:
        raise InputError("no data lines; the file holds only a header or blanks", source=str(path))
    return frame


def _first(mask: pd.Series) -> int:
    """Line number (index label) of the first True in `mask`."""
    labels = mask.index.to_numpy()
    return int(labels[int(mask.to_numpy().argmax())])


def _require(frame: pd.DataFrame, columns: Sequence[str | int], path: Path, layout: str) -> None:
    """InputError at the first line where one of `columns` is missing."""
    for col in columns:
        if col not in frame.columns:
            raise InputError(
                f"no column '{col}'; the file must have {layout}", source=str(path), field=str(col)
            )
    missing = frame[list(columns)].isna().any(axis=1)
    if missing.any():
        line = _first(missing)
        raise InputError(f"missing field; each line must be {layout}", source=str(path), line=line)


def _numeric(values: pd.Series, path: Path, field: str) -> pd.Series:
    """Column as float64; InputError at the first value that is not a number."""
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    bad = numbers.isna() & values.notna()
    if bad.any():
        line = _first(bad)
        raise InputError(
            f"'{values[line]}' is not a number; write {field} as a number",
            source=str(path),
            line=line,
            field=field,
        )
    return numbers


def _text(*parts: str) -> str:
    return ". ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())


def _items(
    ids: list[str], titles: list[str], genres: list[list[str]], extra: list[str] | None = None
) -> pd.DataFrame:
    """Catalog frame; item text = title, genres (comma-separated) and `extra`."""
    more = extra if extra is not None else [""] * len(ids)
    text = [_text(t, ", ".join(g), e) for t, g, e in zip(titles, genres, more, strict=True)]
    return pd.DataFrame({"item_id": ids, "title": titles, "category": genres, "text": text})


def _frame(users: pd.Series, items: pd.Series, times: pd.Series | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({"user_id": users.to_numpy(), "item_id": items.to_numpy()})
    if times is not None:
        frame["timestamp"] = times.to_numpy()
    return frame


def _dataset(inter: pd.DataFrame, items: pd.DataFrame | None, name: str) -> Dataset:
    data = Dataset.from_frame(inter, items, name=name)
    _log.info("loaded %r", data)
    return data


# -- "user item" text files ------------------------------------------------------------------
def _user_item_frame(path: Path) -> pd.DataFrame:
    raw = _read(path, sep=r"\s+")
    if raw.shape[1] not in (2, 3):
        raise InputError(
            f"{raw.shape[1]} fields per line; write 'user item' or 'user item timestamp'",
            source=str(path),
            line=int(raw.index[0]) if len(raw) else None,
        )
    _require(raw, list(raw.columns), path, "'user item' (or 'user item timestamp')")
    times = _numeric(raw[2], path, "timestamp") if raw.shape[1] == 3 else None
    return _frame(raw[0], raw[1], times)


def load_user_item_txt(path: str | Path, name: str | None = None) -> Dataset:
    """SASRec / BERT4Rec format: one ``user item`` pair per line, whitespace-separated.

    Lines are in chronological order per user. An optional third column is a timestamp: the
    sequences are then sorted by it (ties keep file order).
    """
    p = Path(path)
    return _dataset(_user_item_frame(p), None, name or p.stem)


# -- MovieLens ---------------------------------------------------------------------------------
def _ml100k_ratings(path: Path) -> pd.DataFrame:
    raw = _read(path, sep="\t")
    _require(raw, [0, 1, 2, 3], path, "'user<TAB>item<TAB>rating<TAB>timestamp'")
    return _frame(raw[0], raw[1], _numeric(raw[3], path, "timestamp"))


def _ml1m_ratings(path: Path) -> pd.DataFrame:
    raw = _read(path, sep=":")  # '::' splits into empty fields between the values
    layout = "'user::item::rating::timestamp'"
    if raw.shape[1] != 7:
        raise InputError(f"expected {layout}", source=str(path), line=int(raw.index[0]))
    _require(raw, [0, 2, 4, 6], path, layout)
    stray = raw[[1, 3, 5]].notna().any(axis=1)  # a single ':' where '::' belongs
    if stray.any():
        raise InputError(f"expected {layout}", source=str(path), line=_first(stray))
    return _frame(raw[0], raw[2], _numeric(raw[6], path, "timestamp"))


def _ml_latest_ratings(path: Path) -> pd.DataFrame:
    raw = _read(path, sep=",", header=0)
    _require(raw, ["userId", "movieId", "timestamp"], path, "userId,movieId,rating,timestamp")
    return _frame(raw["userId"], raw["movieId"], _numeric(raw["timestamp"], path, "timestamp"))


def _read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet file; the index is the 1-based row number, as `_read` gives line numbers."""
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read Parquet ({exc}); check the file", source=str(path)) from None
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    return frame


_PARQUET_NAMES = {"userId": "user_id", "UserID": "user_id", "movieId": "item_id",
                  "MovieID": "item_id", "Timestamp": "timestamp"}  # fmt: skip


def _parquet_ratings(path: Path) -> pd.DataFrame:
    raw = _read_parquet(path).rename(columns=_PARQUET_NAMES)
    _require(raw, ["user_id", "item_id"], path, "columns user_id (or userId), item_id (or movieId)")
    times = raw["timestamp"] if "timestamp" in raw.columns else None
    return _frame(raw["user_id"].astype(str), raw["item_id"].astype(str), times)


def _movies_dat(path: Path) -> pd.DataFrame:
    ids: list[str] = []
    titles: list[str] = []
    genres: list[list[str]] = []
    for number, line in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("::")
        if len(parts) != 3:
            raise InputError("expected 'id::title::genre|genre'", source=str(path), line=number)
        ids.append(parts[0])
        titles.append(parts[1])
        genres.append([g for g in parts[2].split("|") if g and g != "(no genres listed)"])
    return _items(ids, titles, genres)


def _movies_frame(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    _require(raw, ["movieId", "title"], path, "movieId,title,genres")
    column = raw["genres"] if "genres" in raw.columns else pd.Series([None] * len(raw))
    genres = [
        [g for g in v.split("|") if g and g != "(no genres listed)"] if isinstance(v, str) else []
        for v in column
    ]
    return _items(raw["movieId"].astype(str).tolist(), raw["title"].astype(str).tolist(), genres)


def _movies_csv(path: Path) -> pd.DataFrame:
    return _movies_frame(_read(path, sep=",", header=0, quoting=_QUOTE_MINIMAL), path)


def _movies_parquet(path: Path) -> pd.DataFrame:
    raw = _read_parquet(path).rename(columns={"MovieID": "movieId", "item_id": "movieId"})
    return _movies_frame(raw, path)


def _u_item(path: Path) -> pd.DataFrame:
    raw = _read(path, sep="|", encoding="latin-1")
    if raw.shape[1] != 5 + len(ML100K_GENRES):
        raise InputError("expected 'id|title|date|video date|url|19 genre flags'", source=str(path))
    _require(raw, [0, 1], path, "'id|title|...'")
    names = list(ML100K_GENRES)
    genre_file = path.with_name("u.genre")
    if genre_file.is_file():
        names = [ln.split("|")[0] for ln in genre_file.read_text("latin-1").splitlines() if ln]
    flags = raw.iloc[:, 5:].fillna("0").to_numpy() == "1"
    if len(names) != flags.shape[1]:
        raise InputError(
            f"{len(names)} genres for {flags.shape[1]} genre flags in {path.name}; fix u.genre",
            source=str(genre_file),
        )
    genres = [[g for g, on in zip(names, row, strict=True) if on] for row in flags]
    return _items(raw[0].tolist(), raw[1].tolist(), genres)


_RATINGS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "u.data": _ml100k_ratings,
    "ratings.dat": _ml1m_ratings,
    "ratings.csv": _ml_latest_ratings,
    "ratings.parquet": _parquet_ratings,
}
_MOVIES: dict[str, Callable[[Path], pd.DataFrame]] = {
    "u.item": _u_item,
    "movies.dat": _movies_dat,
    "movies.csv": _movies_csv,
    "movies.parquet": _movies_parquet,
}


def load_movielens(path: str | Path, name: str | None = None) -> Dataset:
    """MovieLens in any of its layouts: a folder or its ratings file.

    ml-100k (``u.data`` + ``u.item``), ml-1m (``ratings.dat`` + ``movies.dat``), ml-latest
    (``ratings.csv`` + ``movies.csv``), a ratings Parquet, or RecBole atomic files (``.inter`` +
    ``.item``). Events are sorted by timestamp (ties keep file order); item text is the title and
    the genres. Every movie of the catalog file is in the vocabulary, rated or not (cold start).
    """
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    ratings = (
        p if p.is_file() else next((folder / f for f in _RATINGS if (folder / f).is_file()), p)
    )
    reader = _RATINGS.get(ratings.name) or (
        _parquet_ratings if ratings.suffix == ".parquet" else None
    )
    if reader is None:
        if ratings.suffix == ".inter" or list(folder.glob("*.inter")):
            return load_recbole(p, name=name)
        raise InputError(
            f"no MovieLens ratings file found; expected one of {sorted(_RATINGS)} or a RecBole "
            "'.inter' file",
            source=str(p),
        )
    movies = next((folder / f for f in _MOVIES if (folder / f).is_file()), None)
    catalog = _MOVIES[movies.name](movies) if movies is not None else None
    return _dataset(reader(ratings), catalog, name or folder.name)


# -- RecBole atomic files ---------------------------------------------------------------------
_TITLE_FIELDS = ("movie_title", "title", "name")
_CATEGORY_FIELDS = ("class", "genre", "genres", "categories", "category")


def _read_atomic(path: Path, allow_empty: bool = False) -> tuple[pd.DataFrame, dict[str, str]]:
    """A RecBole atomic file: columns renamed from ``name:type`` to ``name``, plus the types."""
    raw = _read(path, sep="\t", header=0, allow_empty=allow_empty)
    types: dict[str, str] = {}
    for col in raw.columns:
        field, _, kind = str(col).partition(":")
        types[field] = kind or "token"
    raw.columns = list(types)
    return raw, types


def _recbole_items(path: Path) -> pd.DataFrame:
    raw, types = _read_atomic(path)
    _require(raw, ["item_id"], path, "an 'item_id:token' column")
    empty = pd.Series("", index=raw.index)
    title_field = next((f for f in _TITLE_FIELDS if f in raw.columns), None)
    titles = raw[title_field].fillna("") if title_field else empty
    if "release_year" in raw.columns:
        year = raw["release_year"]
        titles = titles.where(year.isna(), titles + " (" + year.fillna("") + ")")
    cat_field = next((f for f in _CATEGORY_FIELDS if f in raw.columns), None)
    split = types.get(cat_field or "") == "token_seq"
    genres = [
        (v.split() if split else [v]) if isinstance(v, str) else []
        for v in (raw[cat_field] if cat_field else empty)
    ]
    extra = [
        _text(b, d)
        for b, d in zip(
            *(raw.get(c, empty).fillna("") for c in ("brand", "description")), strict=True
        )
    ]
    items = _items(raw["item_id"].tolist(), titles.tolist(), genres, extra)
    if "brand" in raw.columns:
        items["brand"] = raw["brand"].fillna("").to_numpy()
    if "price" in raw.columns:
        items["price"] = _numeric(raw["price"], path, "price").to_numpy()
    return items


def _recbole_paths(path: Path) -> tuple[Path, Path | None]:
    if path.is_dir():
        found = sorted(p for p in path.glob("*.inter") if p.name.count(".") == 1)
        if len(found) != 1:
            raise InputError(
                f"expected one '<name>.inter' file in the folder, found {[p.name for p in found]}; "
                "pass the file itself",
                source=str(path),
            )
        inter = found[0]
    else:
        inter = path if path.suffix == ".inter" else path.with_name(path.name + ".inter")
    item = inter.with_suffix(".item")
    return inter, item if item.is_file() else None


def load_recbole(folder_or_prefix: str | Path, name: str | None = None) -> Dataset:
    """RecBole atomic files: ``<name>.inter`` and, when present, ``<name>.item``.

    The ``.inter`` header names columns as ``field:type``; ``user_id`` and ``item_id`` are
    required, ``timestamp`` orders the events (ties keep file order). Item text comes from the
    title (``movie_title``/``title``, with ``release_year``), the categories (``class``,
    ``categories``…), ``brand`` and ``description`` of the ``.item`` file.
    """
    inter_path, item_path = _recbole_paths(Path(folder_or_prefix))
    raw, _ = _read_atomic(inter_path)
    _require(raw, ["user_id", "item_id"], inter_path, "'user_id:token<TAB>item_id:token...'")
    times = _numeric(raw["timestamp"], inter_path, "timestamp") if "timestamp" in raw else None
    catalog = _recbole_items(item_path) if item_path is not None else None
    inter = _frame(raw["user_id"], raw["item_id"], times)
    return _dataset(inter, catalog, name or inter_path.stem)


# -- UniSRec -----------------------------------------------------------------------------------
_Row = tuple[list[str], str]  # (history, target)


def _unisrec_rows(path: Path) -> dict[str, list[_Row]]:
    """Rows per user in file order: ``user_id<TAB>item_id_list<TAB>item_id``."""
    raw, _ = _read_atomic(path, allow_empty=True)  # users with 3 events have no training rows
    _require(raw, ["user_id", "item_id_list", "item_id"], path, "'user<TAB>history<TAB>target'")
    rows: dict[str, list[_Row]] = {}
    for user, history, target in zip(
        raw["user_id"], raw["item_id_list"], raw["item_id"], strict=True
    ):
        rows.setdefault(user, []).append((history.split(), target))
    return rows


def _chronological(train: dict[str, list[_Row]]) -> bool:
    """Whether each user's training rows run oldest first (histories grow) or newest first."""
    growing = sum(len(r[0][0]) < len(r[-1][0]) for r in train.values())
    shrinking = sum(len(r[0][0]) > len(r[-1][0]) for r in train.values())
    return growing >= shrinking


def _rebuild(user: str, rows: list[_Row], source: Path) -> list[str]:
    """The full sequence: first history, then every target; each history must be its prefix."""
    sequence = rows[0][0] + [target for _, target in rows]
    start = len(rows[0][0])
    for offset, (history, _) in enumerate(rows):
        end = start + offset
        if len(history) > end or sequence[end - len(history) : end] != history:
            raise InputError(
                f"user '{user}': a history does not continue the sequence built from the earlier "
                "rows; train/valid/test must be prefix splits of one chronology per user",
                source=str(source),
            )
    return sequence


def _index_map(path: Path) -> dict[str, str] | None:
    """``index -> external id`` from a ``<name>.item2index``/``user2index`` file, if present."""
    if not path.is_file():
        return None
    raw = _read(path, sep="\t")
    _require(raw, [0, 1], path, "'external_id<TAB>index'")
    return dict(zip(raw[1], raw[0], strict=True))


def _unisrec_items(path: Path, to_external: dict[str, str] | None) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    raw, _ = _read_atomic(path)
    _require(raw, ["item_id"], path, "'item_id:token<TAB>text:token_seq'")
    known = set(to_external.values()) if to_external else set()
    ids = [i if i in known or not to_external else to_external.get(i, i) for i in raw["item_id"]]
    text = raw["text"].fillna("").str.strip() if "text" in raw else pd.Series("", index=raw.index)
    items = pd.DataFrame({"item_id": ids, "text": text.to_numpy()})
    if to_external:  # index order, so that item index = UniSRec index + 1
        order = {e: int(i) for i, e in to_external.items()}
        rank = items["item_id"].map(order).fillna(len(order))
        items = items.iloc[rank.argsort(kind="stable")]
    return items


def load_unisrec(folder: str | Path, name: str | None = None) -> Dataset:
    """UniSRec / RecBole sequential splits: ``<name>.train.inter``, ``.valid.inter``,
    ``.test.inter`` (``user<TAB>history<TAB>target``, training rows prefix-augmented),
    ``<name>.text`` and the ``item2index`` / ``user2index`` maps.

    The full chronological sequence of each user is rebuilt from the rows, so that
    :func:`~cartwise.data.split.leave_last_out` gives back exactly their valid and test targets
    and their training prefixes. External ids are the original ones (ASINs, reviewer ids) when the
    index maps are present.
    """
    root = Path(folder)
    found = sorted(root.glob("*.train.inter"))
    if len(found) != 1:
        raise InputError("expected one '<name>.train.inter' file", source=str(root))
    stem = found[0].name.removesuffix(".train.inter")
    train = _unisrec_rows(root / f"{stem}.train.inter")
    if not _chronological(train):
        train = {u: rows[::-1] for u, rows in train.items()}
    valid = _unisrec_rows(root / f"{stem}.valid.inter")
    test = _unisrec_rows(root / f"{stem}.test.inter")
    order = dict.fromkeys([*test, *valid, *train])  # users in test-file order
    per_user = {u: train.get(u, []) + valid.get(u, []) + test.get(u, []) for u in order}
    items = _index_map(root / f"{stem}.item2index")
    users = _index_map(root / f"{stem}.user2index")
    source = root / f"{stem}.train.inter"
    sequences = {u: _rebuild(u, rows, source) for u, rows in per_user.items()}
    user_col = [users.get(u, u) if users else u for u, s in sequences.items() for _ in s]
    item_col = [items.get(i, i) if items else i for s in sequences.values() for i in s]
    inter = pd.DataFrame({"user_id": user_col, "item_id": item_col})
    return _dataset(inter, _unisrec_items(root / f"{stem}.text", items), name or stem)


# -- Amazon user sequences and SASRec ML-1M ----------------------------------------------------
def load_amazon_user_sequence(folder: str | Path, name: str | None = None) -> Dataset:
    """S3-Rec / P5 format: ``user_sequence.txt`` with ``user item item ...`` per line (oldest
    first) and, when present, ``items_titles.tsv`` (``asin<TAB>title`` with a header) as item text.
    """
    root = Path(folder)
    path = root / "user_sequence.txt"
    if not path.is_file():
        raise InputError("file not found; the folder needs user_sequence.txt", source=str(path))
    users: list[str] = []
    items: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            parts = line.split()
            if len(parts) == 1:
                raise InputError(
                    f"user '{parts[0]}' has no items; write 'user item [item ...]'",
                    source=str(path),
                    line=number,
                )
            users.extend(parts[:1] * (len(parts) - 1))
            items.extend(parts[1:])
    titles = root / "items_titles.tsv"
    catalog = None
    if titles.is_file():
        raw = _read(titles, sep="\t", header=0)
        _require(
            raw,
            ["asin", "title"],
            titles,
            "an 'asin<TAB>title' header, then 'asin<TAB>title' lines",
        )
        catalog = pd.DataFrame(
            {"item_id": raw["asin"].to_numpy(), "title": raw["title"].to_numpy()}
        )
    inter = pd.DataFrame({"user_id": users, "item_id": items})
    return _dataset(inter, catalog, name or root.name)


def load_sasrec_ml1m(folder: str | Path, name: str | None = None) -> Dataset:
    """SASRec's ML-1M: ``ml-1m.txt`` (``user item`` per line, chronological), with titles and
    genres from ``movies.dat`` joined through ``sas_to_original_items.txt`` (``sas_id movie_id``).

    Item ids are SASRec's; item text is ``"Title (Year). Genre, Genre"``.
    """
    root = Path(folder)
    inter = _user_item_frame(root / "ml-1m.txt")
    mapping_path = root / "sas_to_original_items.txt"
    mapping = _read(mapping_path, sep=r"\s+")
    _require(mapping, [0, 1], mapping_path, "'sas_item_id original_movie_id'")
    movies = _movies_dat(root / "movies.dat").set_index("item_id")
    sas_ids = mapping[0].astype(str)
    joined = movies.reindex(mapping[1].astype(str).to_numpy())
    missing = int(joined["title"].isna().sum())
    if missing:
        _log.warning("%d SASRec items have no movie in movies.dat; their text is empty", missing)
    catalog = pd.DataFrame(
        {
            "item_id": sas_ids.to_numpy(),
            "title": joined["title"].fillna("").to_numpy(),
            "category": [g if isinstance(g, list) else [] for g in joined["category"]],
            "text": joined["text"].fillna("").to_numpy(),
        }
    )
    return _dataset(inter, catalog, name or root.name)


# -- dispatcher --------------------------------------------------------------------------------
Loader = Callable[[Path, str], Dataset]


def _folder_loader(root: Path) -> Loader | None:
    names = {p.name for p in root.iterdir()}
    if "events.csv" in names and is_behaviour_file(root / "events.csv"):
        return load_behaviour_csv
    if "sas_to_original_items.txt" in names and "ml-1m.txt" in names:
        return load_sasrec_ml1m
    if any(n.endswith(".train.inter") for n in names):
        return load_unisrec
    if "user_sequence.txt" in names:
        return load_amazon_user_sequence
    if names & {*_RATINGS, *(n for n in names if n.endswith(".inter"))}:
        return load_movielens if names & set(_RATINGS) else load_recbole
    texts = [n for n in names if n.endswith(".txt") and n.lower() not in _NOT_DATA]
    if len(texts) == 1:
        return lambda path, name: load_user_item_txt(path / texts[0], name)
    return None


def _file_loader(path: Path) -> Loader | None:
    if is_behaviour_file(path):
        return load_behaviour_csv
    if path.name == "user_sequence.txt":
        return lambda p, name: load_amazon_user_sequence(p.parent, name)
    if path.name.endswith((".train.inter", ".valid.inter", ".test.inter")):
        return lambda p, name: load_unisrec(p.parent, name)
    if path.suffix == ".inter":
        return load_recbole
    if path.name in _RATINGS or path.suffix == ".parquet":
        return load_movielens
    if path.suffix == ".txt":
        return load_user_item_txt
    return None


def _resolve(path_or_name: str | Path) -> Path:
    path = Path(path_or_name).expanduser()
    if path.exists():
        return path
    shared = datasets_dir() / str(path_or_name)
    if shared.exists():
        return shared
    known = sorted(p.name for p in datasets_dir().iterdir()) if datasets_dir().is_dir() else []
    raise InputError(
        f"no such file or folder, nor a dataset of that name in {datasets_dir()} "
        f"(available: {', '.join(known) or 'none'}); pass a path or set CARTWISE_DATASETS",
        source=str(path_or_name),
    )


def load_dataset(path_or_name: str | Path) -> Dataset:
    """Load a public dataset from a path, or by the name of a folder under :func:`datasets_dir`
    (``ml-1m``, ``beauty-bert4rec``, ``amazon-beauty-text``, ``amazon-scientific``, ``ml-100k``,
    ``taobao-userbehavior``: with event kinds and times).

    The format is detected from the file names; an unknown one raises InputError listing the
    supported formats. The dataset is named after the folder (or the file's stem).
    """
    path = _resolve(path_or_name)
    loader = _folder_loader(path) if path.is_dir() else _file_loader(path)
    if loader is None:
        raise InputError(
            "unknown dataset format; supported: " + "; ".join(SUPPORTED_FORMATS),
            source=str(path),
        )
    return loader(path, path.name if path.is_dir() else path.stem)
