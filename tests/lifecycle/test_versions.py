"""Versions on disk: activation history and rollback, prune, deletion marks, concurrent
activations."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from cartwise.data.dataset import Dataset
from cartwise.errors import ConfigError, NotFoundError
from cartwise.lifecycle import ACTIVE_FILE, Versions, note_deletion
from cartwise.lifecycle.versions import HISTORY_FILE
from cartwise.models.base import Recommender
from cartwise.models.registry import create


def _model() -> Recommender:
    frame = pd.DataFrame({"user_id": ["u1", "u2", "u2"], "item_id": ["x", "y", "x"]})
    return create("popularity").fit(Dataset.from_frame(frame), rng=0)


@pytest.fixture
def versions(tmp_path: Path) -> Versions:
    return Versions(tmp_path / "models")


def _saved(versions: Versions, n: int) -> list[str]:
    model = _model()
    return [versions.save(model, {"n": i}) for i in range(n)]


def test_rollback_walks_back_through_the_activations(versions: Versions) -> None:
    v1, v2, v3 = _saved(versions, 3)
    assert versions.list() == [v1, v2, v3]  # oldest first
    assert versions.activate(v1) is None
    assert versions.activate(v2) == v1
    assert versions.activate(v3) == v2
    assert versions.rollback_target() == v2
    assert versions.rollback() == (v2, v3)
    assert versions.rollback() == (v1, v2)
    assert versions.active() == v1
    with pytest.raises(NotFoundError, match="no earlier active version to roll back to"):
        versions.rollback()
    versions.activate(v3)
    assert versions.rollback() == (v1, v3)
    actions = [(e["action"], e["version"], e["previous"]) for e in versions.history()]
    assert actions == [
        ("activate", v1, None), ("activate", v2, v1), ("activate", v3, v2),
        ("rollback", v2, v3), ("rollback", v1, v2), ("activate", v3, v1), ("rollback", v1, v3),
    ]  # fmt: skip
    stored = json.loads((versions.root / HISTORY_FILE).read_text())
    assert stored["stack"] == [v1]


def test_rollback_skips_versions_deleted_since(versions: Versions) -> None:
    v1, v2, v3 = _saved(versions, 3)
    for v in (v1, v2, v3):
        versions.activate(v)
    shutil.rmtree(versions.root / v2)
    assert versions.rollback_target() == v1
    assert versions.rollback() == (v1, v3)


def test_an_active_file_without_history_starts_the_history(versions: Versions) -> None:
    v1, v2 = _saved(versions, 2)
    (versions.root / ACTIVE_FILE).write_text(v1)  # activated by an older Cartwise
    versions.activate(v2)
    assert versions.rollback() == (v1, v2)


def test_activate_unknown_or_unsafe_names_fails_clearly(versions: Versions) -> None:
    (v1,) = _saved(versions, 1)
    for bad in ("nope", "../models", ".tmp", ""):
        with pytest.raises(NotFoundError, match="cartwise models list"):
            versions.activate(bad)
    assert versions.active() is None
    versions.activate(v1)
    assert versions.active() == v1


def test_prune_keeps_the_newest_the_active_and_the_rollback_target(versions: Versions) -> None:
    v1, v2, v3, v4, v5 = _saved(versions, 5)
    versions.activate(v2)
    versions.activate(v1)  # active v1, rollback target v2
    assert versions.prune(keep=1) == [v3, v4]
    assert versions.list() == [v1, v2, v5]
    assert not (versions.root / v3).exists() and not any(versions.root.glob(".*deleting"))
    assert versions.prune(keep=0) == [v5]
    assert versions.list() == [v1, v2]
    assert versions.rollback() == (v2, v1)
    with pytest.raises(ConfigError, match="--keep -1"):
        versions.prune(-1)


def test_deleting_a_shopper_marks_every_version_trained_before(versions: Versions) -> None:
    v1, v2 = _saved(versions, 2)
    assert note_deletion(versions.root, 0) == []  # no events: no model learnt from them
    assert versions.deletion_mark(v1) is None
    assert note_deletion(versions.root, 12) == [v1, v2]
    note_deletion(versions.root, 3)
    mark = versions.deletion_mark(v1)
    assert mark is not None and mark["shoppers"] == 2 and mark["first"] <= mark["last"]
    assert set(mark) == {"shoppers", "first", "last", "first_unix", "last_unix"}  # no ids
    # a version whose training read the store before a deletion is marked when it is saved
    stale = versions.save(_model(), {"snapshot_at": time.time() - 3600})
    fresh = versions.save(_model(), {"snapshot_at": time.time() + 1})
    stale_mark = versions.deletion_mark(stale)
    assert stale_mark is not None and stale_mark["shoppers"] == 2
    assert versions.deletion_mark(fresh) is None


def test_concurrent_activations_keep_one_consistent_history(versions: Versions) -> None:
    names = _saved(versions, 4)
    errors: list[BaseException] = []

    def flip(offset: int) -> None:
        try:
            for i in range(15):
                versions.activate(names[(offset + i) % len(names)])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=flip, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    log = versions.history()
    assert len(log) == 90
    assert log[-1]["version"] == versions.active()
    for before, after in zip(log, log[1:], strict=False):
        assert after["previous"] == before["version"]  # no activation lost or interleaved
