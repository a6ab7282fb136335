"""Dataset: an immutable snapshot of interactions that models train on.

Models see contiguous integer ids only. A :class:`Vocabulary` maps external string ids to
1..n, keeping 0 for padding, so every per-item array has length ``n + 1`` and index 0 is unused
(score arrays carry ``-inf`` there). Per-user sequences are chronological; ties keep input order.

Each position may also carry what the shopper did (the event kind, as a code of the dataset's
kind vocabulary, 0 = unknown) and when (epoch seconds): the event-aware sequence model reads
both, the id-only models read the items only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cartwise.data.schema import NOT_BEHAVIOUR, EventKind
from cartwise.errors import DataError, InputError

if TYPE_CHECKING:
    from cartwise.data.store import Store

PAD = 0
PAD_TOKEN = "<pad>"

#: Which events :meth:`Dataset.from_store` reads: the kinds that express interest
#: ("positive", what the id-only models train on), or everything a shopper did with an item
#: ("behaviour": returns, cart removals and declared kinds too; not searches or impressions).
KindSelection = Literal["positive", "behaviour"]


class Vocabulary:
    """External string ids ↔ contiguous integers 1..n (0 is padding)."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids: list[str] = [PAD_TOKEN]
        self._index: dict[str, int] = {}
        for external in ids:
            self.add(str(external))

    def add(self, external: str) -> int:
        """Index of `external`, adding it at the end if new."""
        found = self._index.get(external)
        if found is None:
            found = len(self._ids)
            self._ids.append(external)
            self._index[external] = found
        return found

    def __len__(self) -> int:
        """Table size including padding (n + 1): the length of per-item arrays."""
        return len(self._ids)

    @property
    def size(self) -> int:
        """Number of real ids (n)."""
        return len(self._ids) - 1

    def __contains__(self, external: object) -> bool:
        return external in self._index

    def get(self, external: str) -> int | None:
        """Index of `external`, or None."""
        return self._index.get(external)

    def index(self, external: str) -> int:
        """Index of `external`; KeyError naming it if unknown."""
        try:
            return self._index[external]
        except KeyError:
            raise KeyError(f"unknown id '{external}'") from None

    def encode(self, externals: Iterable[str], *, skip_unknown: bool = False) -> np.ndarray:
        """Indices of many ids (int64). Unknown ids raise, or are dropped with `skip_unknown`."""
        out = []
        for e in externals:
            i = self._index.get(e)
            if i is None:
                if skip_unknown:
                    continue
                raise KeyError(f"unknown id '{e}'")
            out.append(i)
        return np.asarray(out, dtype=np.int64)

    def decode(self, indices: Iterable[int]) -> list[str]:
        """External ids of indices (0 is not a valid index)."""
        return [self._ids[int(i)] for i in indices]

    @property
    def ids(self) -> list[str]:
        """External ids in index order, without padding."""
        return self._ids[1:]

    def to_json(self) -> list[str]:
        """Serialisable form (ids in index order, padding excluded)."""
        return self.ids

    @classmethod
    def from_json(cls, data: Sequence[str]) -> Vocabulary:
        """Inverse of :meth:`to_json`."""
        return cls(data)

    def save(self, path: Path) -> None:
        """Write as JSON."""
        path.write_text(json.dumps(self.to_json()))

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        """Read a file written by :meth:`save`."""
        return cls.from_json(json.loads(path.read_text()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self._ids == other._ids

    def __hash__(self) -> int:  # pragma: no cover - vocabularies are not dict keys
        return hash(tuple(self._ids))


@dataclass(frozen=True, eq=False)
class Dataset:
    """Interactions of users with items, as the models consume them.

    Attributes:
        users: user vocabulary (index 0 unused).
        items: item vocabulary (index 0 = padding).
        sequences: per user index, item indices in chronological order (int64);
            ``sequences[0]`` is empty.
        timestamps: per user index, epoch seconds aligned with `sequences`, or None when the
            source had no time (file order is then the order).
        item_text: per item index, the text language models read ("" when unknown).
        item_info: per item index (row 0 = padding): category, brand, price, available,
            created_at and attributes (a mapping); None when there is no catalog.
        name: label for reports.
        kinds: per user index, event kind codes (int16) aligned with `sequences`, or None when
            the source had no kinds.
        kind_vocab: kind names ↔ codes 1..k (0 = unknown); None without kinds.
    """

    users: Vocabulary
    items: Vocabulary
    sequences: list[np.ndarray]
    timestamps: list[np.ndarray] | None = None
    item_text: list[str] = field(default_factory=list)
    item_info: pd.DataFrame | None = None
    name: str = "dataset"
    kinds: list[np.ndarray] | None = None
    kind_vocab: Vocabulary | None = None

    def __post_init__(self) -> None:
        if len(self.sequences) != len(self.users):
            raise DataError(
                f"dataset '{self.name}': {len(self.sequences)} sequences for "
                f"{len(self.users)} user slots; build datasets with Dataset.from_frame"
            )
        for label, aligned in (("timestamps", self.timestamps), ("kinds", self.kinds)):
            if aligned is not None and any(
                len(a) != len(s) for a, s in zip(aligned, self.sequences, strict=True)
            ):
                raise DataError(
                    f"dataset '{self.name}': {label} are not aligned with the sequences; "
                    "give one value per event (Dataset.with_sequences)"
                )
        if (self.kinds is None) != (self.kind_vocab is None):
            raise DataError(f"dataset '{self.name}': kinds and kind_vocab come together")
        if not self.item_text:
            object.__setattr__(self, "item_text", [""] * len(self.items))

    # -- sizes ---------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        """Number of users (excluding the padding slot)."""
        return self.users.size

    @property
    def n_items(self) -> int:
        """Number of items (excluding padding). Per-item arrays have length n_items + 1."""
        return self.items.size

    @cached_property
    def n_interactions(self) -> int:
        """Total events over all sequences."""
        return int(sum(len(s) for s in self.sequences))

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """User × item CSR matrix, shape (n_users + 1, n_items + 1), value = interaction count."""
        lengths = np.fromiter(
            (len(s) for s in self.sequences), dtype=np.int64, count=len(self.sequences)
        )
        rows = np.repeat(np.arange(len(self.sequences)), lengths)
        cols = np.concatenate(self.sequences) if lengths.sum() else np.zeros(0, dtype=np.int64)
        data = np.ones(len(cols), dtype=np.float32)
        m = sp.csr_matrix((data, (rows, cols)), shape=(len(self.users), len(self.items)))
        m.sum_duplicates()
        return m

    @cached_property
    def item_counts(self) -> np.ndarray:
        """Interactions per item index (length n_items + 1)."""
        counts = np.zeros(len(self.items), dtype=np.int64)
        for s in self.sequences:
            np.add.at(counts, s, 1)
        return counts

    def with_sequences(
        self,
        sequences: list[np.ndarray],
        timestamps: list[np.ndarray] | None = None,
        kinds: list[np.ndarray] | None = None,
        **kw: Any,
    ) -> Dataset:
        """Same vocabularies and catalog, other interactions (used by splits). Without
        `kinds` the result has no kinds (and no kind vocabulary)."""
        vocab = self.kind_vocab if kinds is not None else None
        return replace(
            self, sequences=sequences, timestamps=timestamps, kinds=kinds, kind_vocab=vocab, **kw
        )

    def select(self, parts: Sequence[slice | np.ndarray], **kw: Any) -> Dataset:
        """Per user, the events picked by ``parts[u]`` (a slice or a boolean mask), with their
        times and kinds; same vocabularies and catalog (used by splits)."""
        if len(parts) != len(self.sequences):
            raise DataError(f"select: {len(parts)} selections for {len(self.sequences)} users")
        sequences = [s[p] for s, p in zip(self.sequences, parts, strict=True)]
        times = kinds = None
        if self.timestamps is not None:
            times = [t[p] for t, p in zip(self.timestamps, parts, strict=True)]
        if self.kinds is not None:
            kinds = [k[p] for k, p in zip(self.kinds, parts, strict=True)]
        return self.with_sequences(sequences, times, kinds, **kw)

    def only_kinds(self, names: Iterable[str], **kw: Any) -> Dataset:
        """The events of the given kinds only (DataError when the dataset has no kinds)."""
        if self.kinds is None or self.kind_vocab is None:
            raise DataError(f"dataset '{self.name}' has no event kinds to select by")
        codes = self.kind_vocab.encode(list(names), skip_unknown=True)
        return self.select([np.isin(k, codes) for k in self.kinds], **kw)

    def kind_code(self, name: str) -> int | None:
        """The code of kind `name`, or None when the dataset has no such kind."""
        return self.kind_vocab.get(name) if self.kind_vocab is not None else None

    def repurchase_rates(self, prior_weight: float = 5.0) -> np.ndarray:
        """Per item index, how often its buyers buy it again (float32, length n_items + 1).

        For item i with ``b_i`` buyers of whom ``r_i`` bought it at least twice, and its leaf
        category c (when the catalog has one) with ``B_c`` buyers and ``R_c`` repeat buyers over
        all its items, the rate is ``(r_i + w · R_c / B_c) / (b_i + w)`` (``w`` =
        `prior_weight`): an item bought by few shoppers borrows its category's habit, so a
        refill of a consumable that is re-bought elsewhere in its category counts as
        re-purchasable. Zero everywhere without purchase events.
        """
        code = self.kind_code(EventKind.PURCHASE.value)
        rates = np.zeros(len(self.items), dtype=np.float32)
        if code is None or self.kinds is None:
            return rates
        pairs = [
            (u, s[k == code])
            for u, (s, k) in enumerate(zip(self.sequences, self.kinds, strict=True))
        ]
        users = np.concatenate([np.full(len(b), u) for u, b in pairs] + [np.zeros(0, np.int64)])
        items = np.concatenate([b for _, b in pairs] + [np.zeros(0, np.int64)])
        keys, counts = np.unique(
            users.astype(np.int64) * len(self.items) + items, return_counts=True
        )
        bought = keys % len(self.items)
        buyers = np.bincount(bought, minlength=len(self.items)).astype(np.float64)
        repeat = np.bincount(bought, weights=counts >= 2, minlength=len(self.items))
        prior = _category_mean(self.item_info, buyers, repeat)
        rates[:] = (repeat + prior_weight * prior) / (buyers + prior_weight)
        rates[0] = 0.0
        return rates

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, users={self.n_users}, items={self.n_items}, "
            f"interactions={self.n_interactions})"
        )

    # -- builders ------------------------------------------------------------------------
    @classmethod
    def from_frame(
        cls,
        interactions: pd.DataFrame,
        items: pd.DataFrame | None = None,
        *,
        name: str = "dataset",
    ) -> Dataset:
        """Build from a frame with columns ``user_id``, ``item_id`` and optionally ``timestamp``
        (any sortable number or datetime) and ``kind`` (event kind names). Without a
        timestamp, row order is time order.

        `items`, if given, has an ``item_id`` column (every catalog item gets an index, even with
        no interactions: cold start) and optional ``title``, ``description``, ``category``
        (str or list), ``brand``, ``price``, ``available``, ``created_at``, ``text``.
        """
        for col in ("user_id", "item_id"):
            if col not in interactions.columns:
                raise InputError(
                    f"missing column '{col}'; the frame has {list(interactions.columns)}",
                    source=name,
                    field=col,
                )
        frame = interactions.reset_index(drop=True)
        missing = frame[["user_id", "item_id"]].isna().any(axis=1).to_numpy()
        if missing.any():
            raise InputError(
                "missing user_id or item_id; drop such rows before building a dataset",
                source=name,
                line=int(missing.argmax()) + 1,
            )
        item_vocab = Vocabulary(items["item_id"].astype(str)) if items is not None else Vocabulary()
        # factorize once, then map the distinct ids: no per-row Python lookups
        item_codes, item_uniques = pd.factorize(_as_text(frame["item_id"]), sort=False)
        item_lookup = np.fromiter(
            (item_vocab.add(str(e)) for e in item_uniques), dtype=np.int64, count=len(item_uniques)
        )
        user_codes, user_uniques = pd.factorize(_as_text(frame["user_id"]), sort=False)
        user_vocab = Vocabulary(user_uniques)
        item_idx = item_lookup[item_codes]
        user_idx = user_codes.astype(np.int64) + 1

        has_time = "timestamp" in frame.columns
        ts = _timestamps(frame["timestamp"]) if has_time else None
        order = np.argsort(ts, kind="stable") if ts is not None else np.arange(len(frame))
        order = order[np.argsort(user_idx[order], kind="stable")]
        bounds = np.concatenate([[0], np.cumsum(np.bincount(user_idx, minlength=len(user_vocab)))])
        sorted_items = item_idx[order]
        sequences = [sorted_items[bounds[u] : bounds[u + 1]] for u in range(len(user_vocab))]
        times = None
        if ts is not None:
            sorted_ts = ts[order]
            times = [sorted_ts[bounds[u] : bounds[u + 1]] for u in range(len(user_vocab))]
        kinds, kind_vocab = None, None
        if "kind" in frame.columns:
            kind_vocab, codes = _kind_codes(frame["kind"], name)
            sorted_kinds = codes[order]
            kinds = [sorted_kinds[bounds[u] : bounds[u + 1]] for u in range(len(user_vocab))]
        text, info = _catalog(item_vocab, items)
        return cls(user_vocab, item_vocab, sequences, times, text, info, name, kinds, kind_vocab)

    @classmethod
    def from_store(
        cls,
        store: Store,
        *,
        kinds: KindSelection | Iterable[str] = "positive",
        name: str = "store",
    ) -> Dataset:
        """Snapshot of a Store: events of the given kinds with their kind and time, every
        catalog item in the vocabulary.

        Args:
            store: the store.
            kinds: ``"positive"`` (default): the kinds that express interest, built in (view,
                click, add to cart, purchase, rating) or declared positive, which is what the
                id-only models train on; ``"behaviour"``: every kind a shopper does with an
                item (returns, cart removals and every declared kind too), for the event-aware
                model; or the kind names themselves.
            name: label for reports.

        Placeholder items (created for events naming unknown items) are included too.
        """
        events = store.training_frame(kinds=selected_kinds(store, kinds))
        catalog = store.items_frame().rename(columns={"id": "item_id"})
        frame = pd.DataFrame(
            {
                "user_id": events["user_id"],
                "item_id": events["item_id"],
                "timestamp": events["ts"],
                "kind": events["kind"],
            }
        )
        return cls.from_frame(frame, catalog, name=name)


def selected_kinds(store: Store, kinds: KindSelection | Iterable[str]) -> list[str]:
    """The kind names a selection stands for in `store` (see :meth:`Dataset.from_store`)."""
    if kinds == "positive":
        return store.positive_kinds()
    if kinds == "behaviour":
        skip = {k.value for k in NOT_BEHAVIOUR}
        return [k.name for k in store.event_kinds() if k.name not in skip]
    if isinstance(kinds, str):
        raise InputError(
            f"kinds={kinds!r}: use 'positive', 'behaviour' or a list of kind names",
            source="from_store",
            field="kinds",
        )
    return [str(k) for k in kinds]


def _kind_codes(column: pd.Series, name: str) -> tuple[Vocabulary, np.ndarray]:
    """Kind names → (vocabulary, int16 codes): built-in kinds first in their order, then the
    others by name, so that the same kinds always get the same codes."""
    if column.isna().any():
        raise InputError(
            "missing event kind; fill in 'kind' or drop the column",
            source=name,
            line=int(column.isna().to_numpy().argmax()) + 1,
            field="kind",
        )
    codes, uniques = pd.factorize(_as_text(column), sort=False)
    present = set(uniques.tolist())
    builtin = [k.value for k in EventKind if k.value in present]
    vocab = Vocabulary(builtin + sorted(present - set(builtin)))
    lookup = np.asarray([vocab.index(str(u)) for u in uniques], dtype=np.int16)
    return vocab, lookup[codes] if len(codes) else np.zeros(0, dtype=np.int16)


def _as_text(column: pd.Series) -> pd.Series:
    """`column` as text: a categorical of text (:meth:`Store.training_frame`) as it is,
    factorised through its codes; anything else as str."""
    categorical = isinstance(column.dtype, pd.CategoricalDtype)
    if categorical and pd.api.types.is_string_dtype(column.cat.categories):
        return column
    return column.astype(str)


def _timestamps(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(column):
        # pandas 2+ keeps s/ms/us resolutions: convert to ns before reading the integers
        nanos = column.dt.as_unit("ns").astype("int64").to_numpy()
        return np.asarray(nanos / 1e9, dtype=np.float64)
    return pd.to_numeric(column).to_numpy(dtype=np.float64)


def item_text_of(row: dict[str, Any]) -> str:
    """Title, category path, brand and description joined, as :attr:`Item.text` does."""
    text = row.get("text")
    if isinstance(text, str) and text:  # NaN/None (a frame's missing value) is no text
        return text
    category = row.get("category")
    if isinstance(category, list | tuple | np.ndarray):
        category = " > ".join(str(c) for c in category)
    parts = [row.get("title"), category, row.get("brand"), row.get("description")]
    return ". ".join(str(p) for p in parts if isinstance(p, str) and p)


_INFO_COLUMNS = ("category", "brand", "price", "available", "created_at", "attributes")


def _category_mean(info: pd.DataFrame | None, buyers: np.ndarray, repeat: np.ndarray) -> np.ndarray:
    """Per item, the repeat-buyer share of its leaf category (all items' share without one)."""
    overall = float(repeat.sum() / buyers.sum()) if buyers.sum() else 0.0
    if info is None or "category" not in info:
        return np.full(len(buyers), overall)
    leaf = [
        c[-1] if isinstance(c, list | tuple | np.ndarray) and len(c) else ""
        for c in info["category"]
    ]
    codes, _ = pd.factorize(pd.Series(leaf, dtype=object))
    cat_buyers = np.bincount(codes, weights=buyers)
    cat_repeat = np.bincount(codes, weights=repeat)
    share = np.divide(
        cat_repeat, cat_buyers, out=np.full(len(cat_buyers), overall), where=cat_buyers > 0
    )
    out: np.ndarray = share[codes]
    return out


def _catalog(
    vocab: Vocabulary, items: pd.DataFrame | None
) -> tuple[list[str], pd.DataFrame | None]:
    if items is None:
        return [""] * len(vocab), None
    by_id: dict[str, dict[str, Any]] = {
        str(r["item_id"]): {str(k): v for k, v in r.items()} for r in items.to_dict("records")
    }
    text = [""] + [item_text_of(by_id[i]) if i in by_id else "" for i in vocab.ids]
    info = pd.DataFrame(index=pd.RangeIndex(len(vocab)))
    for col in _INFO_COLUMNS:
        if col in items.columns:
            values = [None] + [by_id[i][col] if i in by_id else None for i in vocab.ids]
            info[col] = values
    if "available" in info:
        info["available"] = info["available"].fillna(False).astype(bool)
    return text, info
