"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, text

POSTGRES_URL = os.environ.get(
    "EASEL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("EASEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("EASEL_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _share_the_cores_between_test_processes() -> None:
    """Give each pytest-xdist worker, and every server it starts, its share of the cores.

    torch's OpenMP pool defaults to every core in every process. Under `-n auto`
    that is N workers (and their `easel serve` subprocesses) each running N
    threads, and OpenMP threads spin waiting for descheduled siblings: measured
    on 2 cores, a 4 MP sandbox upscale took 185 s instead of 34 s and the suite
    burnt three times the CPU. libgomp reads the variable when torch loads, so
    it is set here, before any test module imports torch; subprocesses inherit it.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers <= 1:
        return
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, threads)
    if "torch" in sys.modules:  # a plugin imported it first: resize the pool directly
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


_share_the_cores_between_test_processes()

# Modules that each run for a minute or more (measured in `make test`'s --durations).
# They are collected first: pytest-xdist's loadscope hands modules out in collection
# order, and one of these started last kept a worker busy for 100 s after the other
# had finished everything else.
LONG_MODULES = (
    "tests/integration/test_schemathesis.py",
    "tests/integration/test_v2beta_server.py",
    "tests/integration/scaleout/test_cluster.py",
    "tests/integration/test_official_samples.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(LONG_MODULES))  # a stable sort


# What migrating an empty PostgreSQL schema runs: (statement, parameters), schema-less.
RecordedSQL = list[tuple[str, Any]]


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build Settings explicitly; nothing leaks in from the environment."""
    for name in list(os.environ):
        if name.startswith("EASEL_") and not name.startswith("EASEL_TEST_"):
            monkeypatch.delenv(name)
    for name in ("API_HOST", "STABILITY_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def db_backend() -> str:
    """The database the DB fixtures give: SQLite here. `tests/integration/postgres`
    overrides this to run the same tests on PostgreSQL."""
    return "sqlite"


@pytest.fixture
def db_url(db_backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database, nothing migrated: a SQLite file, or a fresh PostgreSQL schema."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'easel.db'}"
        return
    with _postgres_schema() as url:
        yield url


@pytest.fixture
def migrated_db_url(
    db_backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database at the head revision, copied from one migrated once per session.

    Running Alembic for every test was most of the suite's time. SQLite: a copy of the
    template file. PostgreSQL: a fresh schema into which the SQL the migration ran is
    replayed (faster than `CREATE DATABASE … TEMPLATE`, which copies a whole database).
    """
    if db_backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path_factory.mktemp("db") / "easel.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    recorded: RecordedSQL = request.getfixturevalue("postgres_migration_sql")
    with _postgres_schema(recorded) as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session."""
    from easel.db import migrate

    path = tmp_path_factory.mktemp("template") / "easel.db"
    migrate.upgrade(f"sqlite:///{path}")
    # Alembic disposed its engine, so the WAL is checkpointed into the file and removed.
    assert not path.with_name("easel.db-wal").exists()
    return path


@pytest.fixture(scope="session")
def postgres_migration_sql() -> RecordedSQL:
    """The SQL an Alembic upgrade of an empty PostgreSQL schema runs, recorded once per
    session. Alembic's look-ups (SELECT, SHOW) are left out; names are unqualified, so
    the rest replays into any schema."""
    from easel.db import migrate

    recorded: RecordedSQL = []

    def record(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        if statement.split(None, 1)[0].upper() not in ("SELECT", "SHOW"):
            recorded.append((statement, parameters))

    with _postgres_schema() as url:
        event.listen(Engine, "before_cursor_execute", record)
        try:
            migrate.upgrade(url)
        finally:
            event.remove(Engine, "before_cursor_execute", record)
    return recorded


@contextmanager
def _postgres_schema(replay: RecordedSQL | None = None) -> Iterator[str]:
    """A fresh schema (dropped afterwards), with `replay` run in it; yields its URL."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            connection.execute(text(f'SET LOCAL search_path TO "{schema}"'))
            for statement, parameters in replay or []:
                connection.exec_driver_sql(statement, parameters)
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
