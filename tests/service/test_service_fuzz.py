"""Schemathesis against the live server's OpenAPI: no 500s, every answer matches the schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import LiveServer, start_server

from cartwise.data.store import Store
from cartwise.serving.engine import Engine
from conftest import build_tiny

pytestmark = pytest.mark.slow

KEY = "fuzz-admin-key"
EXAMPLES = 25  # per operation and generation mode: bounded time


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    store = Store.open(tmp_path / "shop.db")
    build_tiny(store)
    Engine(store, tmp_path / "models").train("itemknn", rng=0)
    live = start_server(
        tmp_path / "shop.db", tmp_path / "models", tmp_path, api_keys={KEY: ["admin"]}
    )
    yield live
    live.stop()


def test_fuzz_the_api(server: LiveServer) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
        content_type_conformance,
    ]
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for op in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=op.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: object) -> None:
                response = case.call(base_url=server.url, headers={"X-API-Key": KEY})  # type: ignore[attr-defined]
                case.validate_response(response, checks=checks)  # type: ignore[attr-defined]

            try:
                run()
            except Unsatisfiable:  # nothing to vary (e.g. no parameters to make invalid)
                continue
            except (
                Exception,
                BaseExceptionGroup,
            ) as exc:  # collect every failing operation, then report them all
                failures.append(f"{op.label} [{mode.value}]: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
    assert "InternalError" not in server.log.read_text()
