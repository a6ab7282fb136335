"""The shared public datasets load with the counts of ../shared/BENCHMARKS.md.

Skipped when the datasets folder is absent (see the `datasets_dir` fixture).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cartwise.data.dataset import Dataset
from cartwise.data.sources.public import load_dataset
from cartwise.data.split import leave_last_out

pytestmark = pytest.mark.realdata

# users / items / events from BENCHMARKS.md; True where the items carry text.
COUNTS = {
    "ml-1m": (6_040, 3_416, 999_611, True),
    "beauty-bert4rec": (40_226, 54_542, 353_962, False),
    "amazon-beauty-text": (22_363, 12_101, 198_502, True),
    # BENCHMARKS.md says 59,384: that counts test.inter rows only, whose histories UniSRec cut to
    # 50 items. The full sequences rebuilt from train.inter hold 43 more events (59,427, the
    # UniSRec paper's figure); see test_amazon_scientific_split_matches_unisrec.
    "amazon-scientific": (8_442, 4_385, 59_427, True),
    "ml-100k": (943, 1_682, 100_000, True),
}
SLOW = {"ml-1m"}  # a million lines

_cache: dict[str, Dataset] = {}


def load(datasets_dir: Path, name: str) -> Dataset:
    if name not in _cache:
        folder = datasets_dir / name
        if not folder.is_dir():
            pytest.skip(f"{folder} is absent")
        _cache[name] = load_dataset(folder)
    return _cache[name]


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=[pytest.mark.slow] if n in SLOW else []) for n in COUNTS]
)
def test_counts_match_benchmarks(datasets_dir: Path, name: str) -> None:
    data = load(datasets_dir, name)
    users, items, events, has_text = COUNTS[name]
    assert (data.n_users, data.n_items, data.n_interactions) == (users, items, events)
    assert data.name == name
    assert data.matrix.shape == (users + 1, items + 1)
    empty = sum(1 for text in data.item_text[1:] if not text)
    assert empty == (0 if has_text else items)


def test_ml100k_is_timestamped_and_titled(datasets_dir: Path) -> None:
    data = load(datasets_dir, "ml-100k")
    assert data.timestamps is not None
    assert all(bool((t[1:] >= t[:-1]).all()) for t in data.timestamps)
    assert (
        data.item_text[data.items.index("1")] == "Toy Story (1995). Animation, Children's, Comedy"
    )


@pytest.mark.slow
def test_ml1m_titles_follow_the_sasrec_mapping(datasets_dir: Path) -> None:
    data = load(datasets_dir, "ml-1m")
    assert data.items.index("1") == 1  # SASRec ids are the indices
    # sas_to_original_items.txt: 1 -> 1198, 3 -> 356 in movies.dat
    assert data.item_text[1] == "Raiders of the Lost Ark (1981). Action, Adventure"
    assert data.item_text[3] == "Forrest Gump (1994). Comedy, Romance, War"
    assert data.items.decode(data.sequences[1][:3]) == ["1", "2", "3"]  # ml-1m.txt's first lines


def _unisrec_rows(path: Path) -> list[tuple[str, list[int], int]]:
    """(user, history, target) with item indices shifted by one, as our vocabulary numbers them."""
    rows = []
    for line in path.read_text().splitlines()[1:]:
        user, history, target = line.split("\t")
        rows.append((user, [int(i) + 1 for i in history.split()], int(target) + 1))
    return rows


def test_amazon_scientific_split_matches_unisrec(datasets_dir: Path) -> None:
    data = load(datasets_dir, "amazon-scientific")
    folder = datasets_dir / "amazon-scientific"
    reviewer = dict(
        reversed(line.split("\t"))
        for line in (folder / "Scientific.user2index").read_text().split("\n")
        if line
    )
    asins = [
        line.split("\t")[0] for line in (folder / "Scientific.item2index").read_text().splitlines()
    ]
    assert data.items.ids[:100] == asins[:100]  # item index = UniSRec index + 1
    split = leave_last_out(data)
    assert len(split.valid) == len(split.test) == 8_442
    row_of = {int(u): k for k, u in enumerate(split.test.users)}
    for part, evalset in (("valid", split.valid), ("test", split.test)):
        rows = _unisrec_rows(folder / f"Scientific.{part}.inter")
        assert len(rows) == 8_442
        for user, history, target in rows:
            k = row_of[data.users.index(reviewer[user])]
            assert evalset.targets[k].tolist() == [target]
            assert evalset.inputs[k][-len(history) :].tolist() == history
            assert len(evalset.inputs[k]) == len(history) or len(history) == 50
    # every training row is a (history, target) of our training sequences
    train = _unisrec_rows(folder / "Scientific.train.inter")
    assert sum(len(s) - 1 for s in split.train.sequences if len(s)) == len(train) == 34_101
    for user, history, target in train:
        seq = split.train.sequences[data.users.index(reviewer[user])].tolist()
        ends = [
            p
            for p in range(1, len(seq))
            if seq[p] == target and seq[max(0, p - len(history)) : p] == history
        ]
        assert ends, (user, target)
    # BENCHMARKS.md's 59,384 is what test.inter alone holds (histories cut to 50)
    assert sum(len(h) + 1 for _, h, _ in _unisrec_rows(folder / "Scientific.test.inter")) == 59_384
