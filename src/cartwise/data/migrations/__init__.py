"""Alembic migrations of the store's schema (see :mod:`cartwise.data.migrate` and
``docs/schema-migrations.md``). ``versions/`` holds one file per schema version."""
