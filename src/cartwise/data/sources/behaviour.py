"""Multi-behaviour shop logs: every event with its kind, such as Taobao's UserBehavior file.

``events.csv`` with a header ``user_id,item_id,category_id,behavior,timestamp`` (unix
seconds), behaviours ``pv``, ``cart``, ``fav`` and ``buy``. The behaviour values go through the
same kind map as ``cartwise ingest events --kind-map`` (:func:`cartwise.data.ingest.events.
map_kinds`): page views become ``view``, carts ``add_to_cart``, purchases ``purchase``, and
favourites the shop-defined kind ``favourite``. The dataset carries each event's kind and time;
the item's category id is its (one-level) category path.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from cartwise.data.dataset import Dataset
from cartwise.data.ingest.events import map_kinds, unknown_kind_message
from cartwise.data.schema import EventKind
from cartwise.errors import InputError

_log = logging.getLogger(__name__)

#: Taobao UserBehavior's behaviour values → Cartwise kinds.
TAOBAO_KINDS: dict[str, str] = {
    "pv": EventKind.VIEW.value,
    "cart": EventKind.ADD_TO_CART.value,
    "buy": EventKind.PURCHASE.value,
    "fav": "favourite",
}
#: Shop-defined kinds the Taobao file needs beside the built-in ones.
TAOBAO_DECLARED = ("favourite",)
COLUMNS = ("user_id", "item_id", "category_id", "behavior", "timestamp")
LAYOUT = "a header 'user_id,item_id,category_id,behavior,timestamp' (unix seconds)"


def is_behaviour_file(path: Path) -> bool:
    """Whether `path` is a CSV file whose header is :data:`COLUMNS`."""
    if not path.is_file() or path.suffix != ".csv":
        return False
    with path.open(encoding="utf-8", errors="replace") as lines:
        return tuple(c.strip() for c in lines.readline().split(",")) == COLUMNS


def load_behaviour_csv(
    path: str | Path,
    name: str | None = None,
    *,
    kind_map: Mapping[str, str] = TAOBAO_KINDS,
    declared: tuple[str, ...] = TAOBAO_DECLARED,
) -> Dataset:
    """A multi-behaviour log (a file, or a folder holding ``events.csv``) as a Dataset with
    kinds, times and item categories.

    Args:
        path: the CSV file or its folder.
        name: dataset name (default: the folder's name).
        kind_map: behaviour value (lowercase) → Cartwise kind.
        declared: the shop-defined kinds the map may name beside the built-in ones.

    Raises:
        InputError: a missing column or value, a timestamp that is not a number, or a
            behaviour the map does not turn into a known kind (naming the line).
    """
    p = Path(path)
    file = p / "events.csv" if p.is_dir() else p
    if not file.is_file():
        raise InputError(
            f"file not found; the folder needs events.csv with {LAYOUT}", source=str(p)
        )
    raw = pd.read_csv(file, dtype=str, keep_default_na=False, na_values=[""])
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise InputError(f"no column '{missing[0]}'; the file needs {LAYOUT}", source=str(file))
    empty = raw[list(COLUMNS)].isna().any(axis=1).to_numpy()
    if empty.any():
        line = int(empty.argmax()) + 2
        raise InputError(f"missing field; every line needs {LAYOUT}", source=str(file), line=line)
    stamps = pd.to_numeric(raw["timestamp"], errors="coerce")
    if stamps.isna().any():
        line = int(stamps.isna().to_numpy().argmax()) + 2
        raise InputError(
            "timestamp is not a number; write unix seconds", source=str(file), line=line,
            field="timestamp",
        )  # fmt: skip
    kinds = _kinds(raw["behavior"], kind_map, declared, file)
    frame = pd.DataFrame(
        {
            "user_id": raw["user_id"].to_numpy(),
            "item_id": raw["item_id"].to_numpy(),
            "timestamp": stamps.to_numpy(dtype=np.float64),
            "kind": kinds,
        }
    )
    first = raw.drop_duplicates("item_id")  # an item's first category when it has two
    catalog = pd.DataFrame(
        {"item_id": first["item_id"].to_numpy(), "category": [[c] for c in first["category_id"]]}
    )
    data = Dataset.from_frame(frame, catalog, name=name or file.parent.name)
    _log.info("loaded %r", data)
    return data


def _kinds(
    values: pd.Series, kind_map: Mapping[str, str], declared: tuple[str, ...], file: Path
) -> np.ndarray:
    known = [k.value for k in EventKind] + list(declared)
    mapped = map_kinds(values.str.strip().str.lower(), {k.lower(): v for k, v in kind_map.items()})
    bad = ~mapped.isin(known).to_numpy()
    if bad.any():
        row = int(bad.argmax())
        raise InputError(
            unknown_kind_message(values.iloc[row], known), source=str(file), line=row + 2,
            field="behavior",
        )  # fmt: skip
    out: np.ndarray = mapped.to_numpy(dtype=object)
    return out
