"""Shared test fixtures.

Keep this file additive: each fixture is independent of the others.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_datasets_dir() -> Path:
    """``$CARTWISE_DATASETS`` when set, else ``<repo>/../shared/datasets``."""
    env = os.environ.get("CARTWISE_DATASETS")
    return Path(env).expanduser() if env else (REPO.parent / "shared" / "datasets").resolve()


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The public datasets folder; the test is skipped when it is absent."""
    path = shared_datasets_dir()
    if not path.is_dir():
        pytest.skip(f"public datasets not found at {path} (set CARTWISE_DATASETS)")
    return path
