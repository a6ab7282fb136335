"""``python -m cartwise``: the command line, as the ``cartwise`` script runs it (the serving
process starts retrains and report jobs this way, with its own interpreter)."""

from cartwise.cli import app

if __name__ == "__main__":
    app()
