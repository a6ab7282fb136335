"""API keys with scopes: read, write, admin (admin implies every scope), and storefront.

``storefront`` is the scope for a key that a shop puts in its web pages (the storefront widget,
``/widget.js``), where anyone can read it: it answers the recommendation lists and accepts
feedback on them, and nothing else (no catalog or shopper reads, no writes to the store).

Keys come from settings (``CARTWISE_API_KEYS='{"key": ["read", "write"]}'``) and are sent in the
``X-API-Key`` header or as ``Authorization: Bearer <key>``. Every configured key is compared in
constant time (:func:`hmac.compare_digest`), whichever matches. A missing or unknown key is a
401; a known key without the scope is a 403.

No keys is a mode that must be asked for (``insecure_local`` / ``cartwise serve
--insecure-local``): the app refuses to be built otherwise, ``cartwise serve`` refuses to listen
on a non-loopback address in it, and every client whose address is not loopback gets a 403.
Forwarded headers (X-Forwarded-For) are ignored unless trusted proxies are configured, so a
remote client cannot claim to be local.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Literal

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

from cartwise.service.errors import AuthError

Scope = Literal["read", "write", "admin", "storefront"]


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
    """Whether `host` is a loopback address: an IP literal in 127.0.0.0/8 or ::1, or the name
    ``localhost``. Any other name (``127.example.invalid``) is not, whatever it starts with."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _presented(request: Request, header_key: str | None) -> str | None:
    if header_key:
        return header_key
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require(scope: Scope, *also: Scope) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency that admits requests whose key holds `scope`, one of `also`, or
    admin; ``async`` because it never blocks (a plain ``def`` dependency costs a thread-pool
    hop per request)."""
    admitted = frozenset({scope, *also, "admin"})
    wanted = " or ".join(f"'{s}'" for s in (scope, *also))

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
        if not admitted & scopes:
            raise AuthError(403, f"this API key lacks the {wanted} scope this route needs")

    return check
