"""Migrations match the models and run both ways (SQLite here; PostgreSQL in
tests/integration/postgres)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from easel.db import migrate
from easel.db.models import Base


def test_upgrade_matches_models_and_downgrade_empties(db_url: str) -> None:
    migrate.upgrade(db_url)
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []
        migrate.downgrade(db_url, "base")
        tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
        assert tables == set()
        migrate.upgrade(db_url)  # and back up again
        assert "credit_ledger" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_the_per_test_copy_of_the_template_is_at_head(migrated_db_url: str) -> None:
    """`migrated_db_url` hands out copies of a template, not migrated databases: they
    must be what a migration gives."""
    engine = create_engine(migrated_db_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert compare_metadata(context, Base.metadata) == []
            heads = ScriptDirectory.from_config(migrate.alembic_config(migrated_db_url)).get_heads()
            assert set(context.get_current_heads()) == set(heads)
    finally:
        engine.dispose()
