"""Shopper ids at rest: optional keyed pseudonyms, and the keyed hash deletion receipts hold.

**Pseudonymisation** (``CARTWISE_PSEUDONYMISE_KEY``, off by default): every shopper id that
enters the store is replaced by its HMAC-SHA256 under the key, in hex, before it is written or
looked up. The store applies it at its own doors (:class:`~cartwise.data.store.Store`,
:class:`~cartwise.data.batch.Batch`, the history reads, the served log, file imports), so every
way in (HTTP, files, CLI, Python) is covered and callers keep using the shop's own ids. The
HMAC is one-way: the store cannot list the shop's ids, only their pseudonyms; and a different
key gives different pseudonyms, so changing the key orphans every shopper's history. The store
records the key's fingerprint and refuses to open under another key (or none) once it holds
shopper data (:func:`check_mode`).

**Receipts**: a deletion receipt keeps HMAC-SHA256(receipt key, stored id) instead of the id.
The key is ``CARTWISE_RECEIPT_KEY`` when set, else a random key the store creates at its first
deletion and keeps in ``privacy_state`` (anyone who can read the database can then test a
guessed id against the receipts; configure the key to rule that out).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, select

from cartwise.config import Settings, get_settings
from cartwise.data import tables as t
from cartwise.errors import ConfigError, StoreError

_log = logging.getLogger(__name__)

MIN_KEY_CHARS = 16
RAW = "raw"
_PSEUDONYM_LABEL = b"cartwise:pseudonym-key"
_RECEIPT_LABEL = b"cartwise:receipt-key"
_STATE = t.privacy_state.c


def fingerprint(key: bytes, label: bytes) -> str:
    """A short, one-way name of a key (16 hex digits): tells keys apart, reveals nothing."""
    return hmac.new(key, label, hashlib.sha256).hexdigest()[:16]


def _key_of(name: str, secret: Any) -> bytes | None:
    if secret is None:
        return None
    value = str(secret.get_secret_value())
    if len(value) < MIN_KEY_CHARS:
        raise ConfigError(
            f"CARTWISE_{name.upper()} is {len(value)} characters long; use at least "
            f"{MIN_KEY_CHARS} random characters, e.g. the output of "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return value.encode("utf-8")


class Privacy:
    """How one store keeps shopper ids: pseudonymised or not, and its receipt key.

    Args:
        pseudonym_key: HMAC key of the pseudonyms (None: ids are stored as given).
        receipt_key: HMAC key of the receipts' hashes (None: the store's own key).
    """

    def __init__(self, pseudonym_key: bytes | None = None, receipt_key: bytes | None = None):
        self._pseudonym_key = pseudonym_key
        self._receipt_key = receipt_key
        self._store_key: bytes | None = None  # the store's own receipt key, once read

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Privacy:
        """The keys the settings name (``CARTWISE_PSEUDONYMISE_KEY``, ``CARTWISE_RECEIPT_KEY``).

        Raises:
            ConfigError: a key shorter than :data:`MIN_KEY_CHARS`.
        """
        settings = settings or get_settings()
        return cls(
            _key_of("pseudonymise_key", settings.pseudonymise_key),
            _key_of("receipt_key", settings.receipt_key),
        )

    @property
    def pseudonymised(self) -> bool:
        """Whether shopper ids are stored as pseudonyms."""
        return self._pseudonym_key is not None

    def mode(self) -> str:
        """What ``privacy_state`` records: "raw", or "hmac-sha256:" and the key's fingerprint."""
        if self._pseudonym_key is None:
            return RAW
        return "hmac-sha256:" + fingerprint(self._pseudonym_key, _PSEUDONYM_LABEL)

    def stored(self, user_id: str) -> str:
        """The id the store keeps for the shop's id `user_id` (itself when not pseudonymised)."""
        if self._pseudonym_key is None:
            return user_id
        return hmac.new(self._pseudonym_key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()

    def stored_many(self, user_ids: Sequence[str | None]) -> list[str | None]:
        """:meth:`stored` of each id (None stays None), each distinct id hashed once."""
        if self._pseudonym_key is None:
            return list(user_ids)
        table = {u: self.stored(u) for u in set(user_ids) if u is not None}
        return [None if u is None else table[u] for u in user_ids]

    # -- receipts ----------------------------------------------------------------------------
    def receipt_key(self, conn: Connection, *, create: bool = False) -> tuple[bytes, str] | None:
        """The receipts' key and its fingerprint; None when the store has no key yet (then it
        has no receipts either) and `create` is false."""
        key = self._receipt_key or self._store_key
        if key is None:
            found = conn.scalar(select(_STATE.value).where(_STATE.name == "receipt_key"))
            if found is None and create:
                put_state(conn, "receipt_key", secrets.token_hex(32), replace=False)
                found = conn.scalar(select(_STATE.value).where(_STATE.name == "receipt_key"))
            if found is None:
                return None
            key = self._store_key = bytes.fromhex(found)
        return key, fingerprint(key, _RECEIPT_LABEL)

    def receipt_hashes(self, conn: Connection, stored_ids: Sequence[str]) -> dict[str, str]:
        """Stored id → its receipt hash (empty when the store has no receipt key yet)."""
        found = self.receipt_key(conn)
        if found is None:
            return {}
        key = found[0]
        return {u: hmac.new(key, u.encode("utf-8"), hashlib.sha256).hexdigest() for u in stored_ids}


def put_state(conn: Connection, name: str, value: str, *, replace: bool = True) -> None:
    """Write one ``privacy_state`` row (keeping an existing one unless `replace`)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = insert(t.privacy_state).values(name=name, value=value)
    if replace:
        conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"value": value}))
    else:
        conn.execute(stmt.on_conflict_do_nothing())


def _holds_shoppers(conn: Connection) -> bool:
    """Whether any table holds a shopper id (users, or a `user_id` that is not null)."""
    probes = [select(t.users.c.id).limit(1)]
    for table in t.metadata.sorted_tables:
        col = table.c.get("user_id")
        if col is not None:
            probes.append(select(col).where(col.is_not(None)).limit(1))
    return any(conn.execute(p).first() is not None for p in probes)


def check_mode(engine: Engine, privacy: Privacy, shown_url: str) -> None:
    """Record how this store keeps shopper ids, or refuse a mode that would orphan them.

    A store that holds no shopper data takes the current mode; one that does must be opened
    in the mode it was written in (a store from before this record was kept holds raw ids).

    Raises:
        StoreError: the store's shopper ids were written in another mode; nothing changed.
    """
    current = privacy.mode()
    with engine.begin() as conn:
        recorded = conn.scalar(select(_STATE.value).where(_STATE.name == "user_ids"))
        if recorded == current:
            return
        holds = _holds_shoppers(conn)
        if not holds or (recorded is None and current == RAW):
            put_state(conn, "user_ids", current)
            return
    raise StoreError(_mode_message(shown_url, recorded or RAW, current))


def _mode_message(url: str, recorded: str, current: str) -> str:
    if recorded == RAW:
        return (
            f"store '{url}' holds shopper ids as given, but CARTWISE_PSEUDONYMISE_KEY is set: "
            "their history would be found under no id. Unset the key for this store, or use "
            "the key with a new store (docs/privacy.md)"
        )
    if current == RAW:
        return (
            f"store '{url}' holds pseudonymised shopper ids (key fingerprint "
            f"{recorded.split(':')[1]}), but CARTWISE_PSEUDONYMISE_KEY is not set: set the key "
            "the store was written with"
        )
    return (
        f"store '{url}' holds shopper ids pseudonymised with another key (fingerprint "
        f"{recorded.split(':')[1]}; the key set now has {current.split(':')[1]}): a new key "
        "orphans every shopper's history. Set the key the store was written with"
    )
