"""Model versions and their lifecycle: train on the store, gate, activate, roll back, prune,
retrain on schedule, and know which versions hold shoppers deleted since.

- :mod:`.versions`: :class:`Versions`, the saved versions of one folder (atomic save and
  activation, activation history, rollback, prune, deletion marks).
- :mod:`.train`: :func:`train_version` / :func:`train_on_store`, the store-training path.
- :mod:`.gate`: the activation gate (the new version against the active one, same holdout).
- :mod:`.retrain`: ``cartwise retrain``'s decision and run; :mod:`.schedule`: the serving
  process's retrain timer (a subprocess, never a request thread).
- :mod:`.summary`: versions side by side with their offline and online metrics.
- :mod:`.jobs`: background jobs in a subprocess (the store evaluation report).
"""

from pathlib import Path

from cartwise.lifecycle.gate import Decision, Gate
from cartwise.lifecycle.train import HOLDOUT, Holdout, Trained, train_on_store, train_version
from cartwise.lifecycle.versions import ACTIVE_FILE, Versions


def note_deletion(model_dir: Path | str, events_removed: int) -> list[str]:
    """Call after ``Store.delete_user`` (with its ``removed["events"]``): marks the saved
    versions as containing a deleted shopper, so the scheduler retrains promptly. Returns the
    marked versions."""
    return Versions(model_dir).note_deletion(events_removed)


__all__ = [
    "ACTIVE_FILE",
    "Decision",
    "Gate",
    "HOLDOUT",
    "Holdout",
    "Trained",
    "Versions",
    "note_deletion",
    "train_on_store",
    "train_version",
]
