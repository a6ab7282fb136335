"""API keys with scopes: read, write, admin (admin implies the other two).

Keys come from settings (``CARTWISE_API_KEYS='{"key": ["read", "write"]}'``) and are sent in the
``X-API-Key`` header or as ``Authorization: Bearer <key>``. Every configured key is compared in
constant time (:func:`hmac.compare_digest`), whichever matches. A missing or unknown key is a
401; a known key without the scope is a 403.

With no keys configured the service is open, and only to clients on the loopback interface:
anyone else gets a 403 (and ``cartwise serve`` refuses to listen on another address).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Literal

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from cartwise.service.errors import AuthError

Scope = Literal["read", "write", "admin"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


class KeyRing:
    """The configured keys and their scopes."""

    def __init__(self, keys: Mapping[str, Sequence[str]]) -> None:
        self._keys = [(k.encode(), frozenset(s)) for k, s in keys.items()]

    @property
    def open(self) -> bool:
        """True when no key is configured (loopback-only access)."""
        return not self._keys

    def scopes(self, presented: str) -> frozenset[str] | None:
        """Scopes of the presented key, None when it matches no key.

        Compares against every key, without stopping at a match, so the time taken does not
        reveal which key (or how much of one) matched.
        """
        candidate = presented.encode()
        found: frozenset[str] | None = None
        for key, scopes in self._keys:
            if hmac.compare_digest(key, candidate):
                found = scopes
        return found


def is_loopback(host: str | None) -> bool:
    """Whether a client address is the local machine."""
    return host is not None and (host in LOOPBACK_HOSTS or host.startswith("127."))


def _presented(request: Request, header_key: str | None) -> str | None:
    if header_key:
        return header_key
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require(scope: Scope) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency that admits requests whose key holds `scope` (or admin); ``async``
    because it never blocks (a plain ``def`` dependency costs a thread-pool hop per request)."""

    async def check(request: Request, header_key: str | None = Security(api_key_header)) -> None:
        ring: KeyRing = request.app.state.keys
        if ring.open:
            host = request.client.host if request.client else None
            if not is_loopback(host):
                raise AuthError(
                    403,
                    "this service has no API keys configured, so it only answers the local "
                    "machine; set CARTWISE_API_KEYS to allow remote clients",
                )
            return
        key = _presented(request, header_key)
        if key is None:
            raise AuthError(
                401,
                "missing API key: send it in the X-API-Key header",
                headers={"WWW-Authenticate": "ApiKey"},
            )
        scopes = ring.scopes(key)
        if scopes is None:
            raise AuthError(
                401, "unknown API key; check the key", headers={"WWW-Authenticate": "ApiKey"}
            )
        if scope not in scopes and "admin" not in scopes:
            raise AuthError(403, f"this API key lacks the '{scope}' scope this route needs")

    return check
