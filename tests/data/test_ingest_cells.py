"""Column converters used by file import: known answers and the errors they raise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartwise.data.ingest.cells import (
    CellError,
    booleans,
    categories,
    epoch_seconds,
    floats,
    ids,
    json_objects,
)
from cartwise.data.ingest.events import derived_event_ids


def test_epoch_units_follow_magnitude() -> None:
    day = 1_704_067_200
    got = epoch_seconds(pd.Series([day, day * 1_000, day * 1_000_000, day * 10**9, 0]))
    assert got.tolist() == [day, day, day, day, 0.0]


def test_epoch_from_text_keeps_gaps() -> None:
    got = epoch_seconds(pd.Series(["2024-01-01", None, "  ", "NaN", "1704067200"], dtype="str"))
    assert got[0] == got[4] == 1_704_067_200.0
    assert np.isnan(got[1:4]).all()


def test_epoch_error_points_at_first_bad_row() -> None:
    with pytest.raises(CellError) as info:
        epoch_seconds(pd.Series(["2024-01-01", "tomorrow", "later"], index=[10, 11, 12]))
    assert info.value.row == 11
    assert info.value.message.startswith("'tomorrow': not a timestamp")
    assert "(1 more row like it)" in info.value.message


def test_ids() -> None:
    got = ids(pd.Series([" a1 ", "", None, "007"], dtype="str"))
    assert got.tolist() == ["a1", None, None, "007"]
    assert ids(pd.Series([17850.0, np.nan, 1.5])).tolist() == ["17850", None, "1.5"]
    assert ids(pd.Series([12, "x"], dtype=object)).tolist() == ["12", "x"]


def test_floats() -> None:
    got = floats(pd.Series(["1.5", " -3 ", "", "1e3"], dtype="str"))
    assert got[[0, 1, 3]].tolist() == [1.5, -3.0, 1000.0] and np.isnan(got[2])
    with pytest.raises(CellError, match="'12,5': not a number"):
        floats(pd.Series(["1", "12,5"], dtype="str"))


def test_booleans() -> None:
    got = booleans(pd.Series(["true", "No", "1", "", "Y"], dtype="str"))
    assert got == [True, False, True, None, True]
    with pytest.raises(CellError, match="'maybe': not a yes/no value"):
        booleans(pd.Series(["maybe"], dtype="str"))


def test_categories() -> None:
    got = categories(
        pd.Series(["Home > Kitchen > Knives", "Home|Garden", '["A", "B"]', "", None, "Toys"])
    )
    assert got == [["Home", "Kitchen", "Knives"], ["Home", "Garden"], ["A", "B"], [], [], ["Toys"]]
    with pytest.raises(CellError, match="not a category path"):
        categories(pd.Series(["[broken"]))


def test_json_objects() -> None:
    got = json_objects(pd.Series(['{"a": 1}', "", None, {"b": 2}], dtype=object))
    assert got == [{"a": 1}, None, None, {"b": 2}]
    with pytest.raises(CellError, match="not a JSON object"):
        json_objects(pd.Series(["{oops"]))


def test_derived_ids_are_stable_and_distinct() -> None:
    users = np.array(["u1", "u1", "u1", "u2"], dtype=object)
    items = np.array(["i1", "i1", "i2", "i1"], dtype=object)
    stamps = np.array([100.0, 100.0, 100.0, 100.0])
    values = np.array([1.0, 1.0, np.nan, 1.0])
    first = derived_event_ids([users, items], [values], stamps)
    again = derived_event_ids([users.copy(), items.copy()], [values.copy()], stamps.copy())
    assert first == again
    assert first[1] == first[0] + "-1"  # the repeat of an identical row
    assert len(set(first)) == 4
    assert all(i.startswith("000000064") for i in first)  # the second, in 9 hex digits
    shifted = derived_event_ids([users, items], [values], stamps + 1)
    assert not set(shifted) & set(first)
