"""Versions under an fsspec URL (``memory://`` in one process; ``file://`` across processes is
tests/service/test_service_replicas.py): the same API as a folder, a local download cache, a
version listed only once whole, and the active version re-read on an interval."""

from __future__ import annotations

import uuid
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pytest

from cartwise.data.dataset import Dataset
from cartwise.errors import ConfigError, NotFoundError
from cartwise.lifecycle import Versions
from cartwise.lifecycle.storage import is_url
from cartwise.models.base import Query, Recommender
from cartwise.models.registry import create
from cartwise.serving.active import ActiveModel


def _model() -> Recommender:
    frame = pd.DataFrame({"user_id": ["u1", "u2", "u2"], "item_id": ["x", "y", "x"]})
    return create("popularity").fit(Dataset.from_frame(frame), rng=0)


@pytest.fixture
def url() -> str:
    return f"memory://cartwise-{uuid.uuid4().hex}/models"


def test_a_url_is_told_from_a_path() -> None:
    assert is_url("s3://bucket/models") and is_url("file:///srv/models")
    assert not is_url("var/models") and not is_url(Path("/srv/models"))


def test_save_list_load_activate_rollback_prune_on_a_url(url: str, tmp_path: Path) -> None:
    versions = Versions(url, cache=tmp_path / "cache")
    model = _model()
    v1, v2, v3 = (versions.save(model, {"n": i}) for i in range(3))
    assert versions.list() == [v1, v2, v3] and versions.info(v2) == {"n": 1}
    assert versions.meta(v1)["model"] == "popularity"
    assert versions.activate(v1) is None and versions.activate(v2) == v1
    assert versions.active() == v2 and versions.rollback() == (v1, v2)
    loaded = Versions(url, cache=tmp_path / "other-machine").load(v1)  # downloaded
    assert np.array_equal(loaded.score(Query.of([1])), model.score(Query.of([1])))
    assert any((tmp_path / "other-machine").rglob(f"{v1}/config.json"))
    assert versions.prune(keep=0) == [v2, v3]  # v1 active, nothing active before it
    assert versions.list() == [v1] and not versions.exists(v3)
    with pytest.raises(NotFoundError, match=url):
        versions.activate(v3)


def test_deletion_marks_on_a_url(url: str, tmp_path: Path) -> None:
    versions = Versions(url, cache=tmp_path / "cache")
    v1 = versions.save(_model(), {})
    assert versions.note_deletion(3) == [v1]
    assert versions.deletion_mark(v1) is not None and versions.deletion_mark(v1)["shoppers"] == 1
    v2 = versions.save(_model(), {"snapshot_at": 0.0})  # read the store before the deletion
    assert versions.deletion_mark(v2) is not None


def test_a_version_is_listed_only_once_its_config_is_uploaded(url: str, tmp_path: Path) -> None:
    versions = Versions(url, cache=tmp_path / "cache")
    v1 = versions.save(_model(), {})
    fs, root = fsspec.core.url_to_fs(url)
    fs.rm(f"{root}/{v1}/config.json")  # as if the upload were still running
    assert versions.list() == [] and not versions.exists(v1)


def test_an_unknown_scheme_names_the_package_to_install(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="install the package"):
        Versions("nosuchscheme://bucket/models", cache=tmp_path)


def test_the_active_version_of_a_url_is_read_again_after_the_poll_interval(
    url: str, tmp_path: Path
) -> None:
    versions = Versions(url, cache=tmp_path / "cache")
    v1, v2 = versions.save(_model(), {}), versions.save(_model(), {})
    versions.activate(v1)
    every_time = ActiveModel(Versions(url, cache=tmp_path / "c2"), poll_seconds=0.0)
    rarely = ActiveModel(Versions(url, cache=tmp_path / "c3"), poll_seconds=3600.0)
    assert every_time.version() == rarely.version() == v1
    versions.activate(v2)  # through another "machine"
    assert every_time.version() == v2
    assert rarely.version() == v1  # within its interval: the version it read
