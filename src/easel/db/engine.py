"""Database engine and session factory for SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

# Connections kept open, and how many more may open for a burst. Each request holds one
# in a worker thread, so the pool covers a busy API process's concurrent requests:
# connections past `pool_size` are closed when returned, and opening a SQLite one
# (with its pragmas) cost 16 concurrent clients a fifth of their throughput.
DEFAULT_POOL_SIZE = 20
DEFAULT_MAX_OVERFLOW = 20


def make_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = DEFAULT_POOL_SIZE,
    max_overflow: int = DEFAULT_MAX_OVERFLOW,
) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout.

    Bound parameters hold prompts and key hashes, so they are never put in a log
    or an exception message (`hide_parameters`), even with `echo` on.
    """
    pool: dict[str, Any] = {}
    if not in_memory_sqlite(url):
        pool = {"pool_size": pool_size, "max_overflow": max_overflow}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": 30},
            **pool,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_pre_ping=True,
        **pool,
    )


def in_memory_sqlite(url: str) -> bool:
    """A database that lives and dies with its process (SQLAlchemy gives it a pool of
    its own kind, which takes no sizes)."""
    return url.startswith("sqlite") and (":memory:" in url or url.rstrip("/") == "sqlite:")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # WAL's recommended level: never corrupts, and only a power cut (not a crashed
    # process) can lose the last commits; FULL's fsync on every commit cost ~10 %.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """Owns the engine and hands out sessions; one per process."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        pool_size: int = DEFAULT_POOL_SIZE,
        max_overflow: int = DEFAULT_MAX_OVERFLOW,
    ) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo, pool_size=pool_size, max_overflow=max_overflow)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self, *, durable: bool = True) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error.

        `durable=False` is for writes that are only hints (a job's progress): on
        PostgreSQL the commit does not wait for the WAL flush, which is most of a
        small write's time. A crash may lose the last such commits, never corrupt
        anything, and never reorder them after a durable commit that follows.
        """
        with self._sessions() as session, session.begin():
            if not durable:
                self._skip_wal_flush(session)
            yield session

    @contextmanager
    def connection(self, *, durable: bool = True) -> Iterator[Connection]:
        """A Core connection in a transaction, committed on success.

        For the hot single statements (a job's progress, a cancel check, a status):
        without the ORM session's unit of work such a statement costs about half
        (0.54 against 0.9-1.0 ms on PostgreSQL here). `durable` as for `session`.
        """
        with self.engine.begin() as connection:
            if not durable:
                self._skip_wal_flush(connection)
            yield connection

    def _skip_wal_flush(self, transaction: Session | Connection) -> None:
        """This transaction's commit need not wait for the WAL flush (PostgreSQL only)."""
        if self.engine.dialect.name == "postgresql":
            transaction.execute(text("SET LOCAL synchronous_commit = off"))

    def dispose(self) -> None:
        self.engine.dispose()
