"""``python -m cartwise.cli``: the ``cartwise`` command (what torchrun starts on every rank)."""

from cartwise.cli.app import app

if __name__ == "__main__":
    app(prog_name="cartwise")
