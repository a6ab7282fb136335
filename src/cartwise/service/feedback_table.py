"""Tables of served recommendations and of the feedback on them.

They are defined in :mod:`cartwise.data.tables`, on the Store's shared metadata, with a
``user_id`` column each: every Store creates them when it opens, and
:meth:`cartwise.data.store.Store.delete_user` removes a shopper's rows from them even in a
process that never imports the service (``cartwise delete-user``). This module keeps the
service's names for them; :func:`ensure_tables` creates them in a store opened elsewhere.
"""

from __future__ import annotations

from cartwise.data.store import Store
from cartwise.data.tables import feedback, metadata, served

__all__ = ["ensure_tables", "feedback", "served"]


def ensure_tables(store: Store) -> None:
    """Create the tables in `store` if they are missing (idempotent)."""
    metadata.create_all(store.engine, tables=[served, feedback])
