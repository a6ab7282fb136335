"""`cartwise serve` refuses to expose a keyless service beyond loopback."""

from __future__ import annotations

import pytest

from cartwise.cli.service import serve
from cartwise.errors import ConfigError
from cartwise.service.auth import is_loopback


def test_serve_refuses_a_public_address_without_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARTWISE_API_KEYS", "{}")
    with pytest.raises(ConfigError, match="refusing to serve 0.0.0.0 without API keys"):
        serve(host="0.0.0.0", port=0, insecure_local=True, store=None, models=None)
    with pytest.raises(ConfigError, match="refusing to serve 127.example.invalid without"):
        serve(host="127.example.invalid", port=0, insecure_local=True, store=None, models=None)


def test_serve_without_keys_needs_insecure_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARTWISE_API_KEYS", "{}")
    monkeypatch.delenv("CARTWISE_INSECURE_LOCAL", raising=False)
    with pytest.raises(ConfigError, match="pass --insecure-local"):
        serve(host="127.0.0.1", port=0, store=None, models=None)


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("127.example.invalid", False),
        ("127.0.0.1.nip.io", False),
        ("[::1]", True),
        (None, False),
    ],
)
def test_loopback_hosts(host: str | None, local: bool) -> None:
    assert is_loopback(host) is local
