"""The database: engine set-up for each backend, schema creation, and transactions.

SQLite (the default) runs in WAL mode with a busy timeout; write transactions start with
``BEGIN IMMEDIATE`` so that two processes never both read, then both try to upgrade to a write
lock (which SQLite would answer with "database is locked" at once, whatever the timeout).
Read transactions use a plain ``BEGIN``. Locked databases are retried with exponential backoff.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
import tenacity
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel

from worker import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from worker.errors import ConfigurationError, DatabaseBusy

T = TypeVar("T")

#: Execution option naming whether a transaction writes (``BEGIN IMMEDIATE`` on SQLite).
_WRITE_OPTION = "scanbox_write"


def sqlalchemy_url(connection_url: str) -> str:
    """Translate ``TURSO_CONNECTION_URL`` into a SQLAlchemy URL."""
    if connection_url.startswith("file:"):
        path = connection_url.removeprefix("file:")
        if path.startswith("//"):
            path = path[2:]
        if not path:
            raise ConfigurationError("TURSO_CONNECTION_URL: file: URL without a path")
        return f"sqlite:///{path}"
    if connection_url == ":memory:" or connection_url.startswith("sqlite:"):
        return "sqlite://" if connection_url == ":memory:" else connection_url
    scheme = connection_url.partition(":")[0] or connection_url
    raise ConfigurationError(
        f"TURSO_CONNECTION_URL: unsupported scheme {scheme!r} (use file:PATH or sqlite:///PATH)"
    )


def _is_locked(error: BaseException) -> bool:
    return isinstance(error, sa.exc.OperationalError) and any(
        word in str(error.orig).lower() for word in ("locked", "busy")
    )


class Database:
    """Connections to scanbox's database, with read and write transactions."""

    def __init__(self, *, url: str, busy_timeout_ms: int = 30_000) -> None:
        self.url = sqlalchemy_url(url)
        self.busy_timeout_ms = busy_timeout_ms
        self.engine = self._create_engine()
        self._schema_ready = False

    def _create_engine(self) -> Engine:
        if not self.url.startswith("sqlite"):
            return sa.create_engine(self.url, pool_pre_ping=True)
        memory = self.url in ("sqlite://", "sqlite:///:memory:")
        if not memory:
            Path(sa.make_url(self.url).database or "").parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            self.url,
            connect_args={"timeout": self.busy_timeout_ms / 1000, "check_same_thread": False},
            poolclass=StaticPool if memory else None,
        )

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let us issue BEGIN ourselves (pysqlite's own BEGIN is deferred).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            write = connection.get_execution_options().get(_WRITE_OPTION, True)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def create_schema(self) -> None:
        """Create the tables that don't exist yet (idempotent)."""
        if not self._schema_ready:
            SQLModel.metadata.create_all(self.engine)
            self._schema_ready = True

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        self.create_schema()
        with self.engine.connect() as connection, connection.begin():
            yield connection

    def run_write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a write transaction, retrying the whole of it while the DB is locked."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_is_locked),
            wait=tenacity.wait_exponential_jitter(multiplier=0.05, max=2.0, jitter=0.05),
            stop=tenacity.stop_after_delay(self.busy_timeout_ms / 1000),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt, self.write() as connection:
                    return work(connection)
        except sa.exc.OperationalError as error:
            if _is_locked(error):
                raise DatabaseBusy(f"database stayed locked: {error.orig}") from error
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (no write lock taken on SQLite)."""
        self.create_schema()
        engine = self.engine.execution_options(**{_WRITE_OPTION: False})
        with Session(engine, expire_on_commit=False) as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
