"""Migrations match the models and run both ways on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
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
