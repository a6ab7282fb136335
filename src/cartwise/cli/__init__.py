"""Command-line interface: typer commands over the Store, ingestion, training and serving.

``app`` (in :mod:`cartwise.cli.app`) is the ``cartwise`` entry point; commands live by area in
:mod:`~cartwise.cli.data`, :mod:`~cartwise.cli.models`, :mod:`~cartwise.cli.service` and
:mod:`~cartwise.cli.demo`.
"""

from cartwise.cli.app import app

__all__ = ["app"]
