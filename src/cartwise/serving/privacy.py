"""Deleting a shopper everywhere their data went: the store, and the models that learnt from it.

The store forgets the shopper in one transaction and keeps a receipt
(:meth:`cartwise.data.store.Store.forget_user`). Every model trained afterwards leaves them out
by construction: training reads its events from the store (``Dataset.from_store``), and the
store no longer holds any. Models trained before still carry what they learnt; the saved
versions are marked as containing a deleted shopper (:func:`mark_versions_after_deletion`), so
the retraining scheduler replaces the active one promptly (``cartwise retrain
--exclude-deleted``).

``DELETE /users/{id}`` and ``cartwise delete-user`` both come through :func:`forget_shopper`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cartwise.data.deletion import DeletionReceipt
from cartwise.data.store import Store
from cartwise.lifecycle import Versions


@dataclass(frozen=True)
class Deletion:
    """A shopper's deletion: the store's receipt and the model versions marked."""

    receipt: DeletionReceipt
    marked_versions: list[str] = field(default_factory=list)


def forget_shopper(store: Store, versions: Versions, user_id: str) -> Deletion:
    """Delete the shopper `user_id` from the store (receipt kept), then mark the saved model
    versions as containing a deleted shopper.

    Raises:
        NotFoundError: nothing is stored about the shopper; nothing is marked.
    """
    receipt = store.forget_user(user_id)
    return Deletion(receipt, mark_versions_after_deletion(versions, receipt.events))


def mark_versions_after_deletion(versions: Versions, events_removed: int) -> list[str]:
    """Mark the saved versions as containing a deleted shopper
    (:meth:`cartwise.lifecycle.Versions.note_deletion`); returns the versions marked. A shopper
    with no events taught no model anything: nothing is marked then."""
    return versions.note_deletion(events_removed)
