"""The database: engine set-up for each backend, the schema check, and transactions.

``TURSO_CONNECTION_URL`` picks the backend:

- ``file:PATH`` (or ``sqlite:///PATH``, ``:memory:``): an embedded SQLite file in WAL mode with
  a busy timeout. Write transactions start with ``BEGIN IMMEDIATE`` so that two processes never
  both read, then both try to upgrade to a write lock (which SQLite would answer with
  "database is locked" at once, whatever the timeout). Read transactions use a plain ``BEGIN``.
- ``libsql://``, ``wss://``, ``https://`` (and ``ws://``, ``http://`` without TLS): a libSQL
  server or Turso, with ``TURSO_AUTH_TOKEN``, through ``libsql-client``'s DB-API module
  (``worker.store.libsql``). The server runs SQLite, so transactions begin exactly as above.
- ``postgresql://``: PostgreSQL through psycopg 3, in its default READ COMMITTED isolation. The
  optimistic lock needs nothing more: a conditional ``UPDATE`` waits for a concurrent writer of
  the row, then re-checks its ``WHERE`` on the committed row, so a lost race matches 0 rows.

The first read or write of a ``Database`` checks the schema's revision
(``worker.store.migrations.state``): an empty database is created at head, and one at any
other revision is refused with ``SchemaMismatch`` before anything is written.

Every transition's ``UPDATE`` and its audit ``INSERT`` share one transaction on every backend.
Locked databases (and, on PostgreSQL, serialization failures and deadlocks) are retried with
exponential backoff.
"""

from __future__ import annotations

import sqlite3
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
import tenacity
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel

from worker.errors import ConfigurationError, DatabaseBusy, ScanboxError
from worker.store import libsql
from worker.store.migrations import state as schema

T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)
Backend = Literal["sqlite", "libsql", "postgresql"]

#: Execution option naming whether a transaction writes (``BEGIN IMMEDIATE`` on SQLite).
_WRITE_OPTION = "scanbox_write"
#: PostgreSQL SQLSTATEs worth retrying the whole transaction for: serialization failure,
#: deadlock detected, lock not available.
_POSTGRES_RETRY_STATES = frozenset({"40001", "40P01", "55P03"})
#: Seconds a libSQL request may take beyond the busy timeout before the connection is dropped.
LIBSQL_REQUEST_MARGIN_S = 30.0
#: URL schemes naming PostgreSQL, and the SQLAlchemy driver scanbox uses for them.
_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
_POSTGRES_DRIVER = "postgresql+psycopg"


def backend_of(connection_url: str) -> Backend:
    """Which database ``TURSO_CONNECTION_URL`` names."""
    scheme = connection_url.partition("://")[0].lower() if "://" in connection_url else ""
    if scheme in _POSTGRES_SCHEMES:
        return "postgresql"
    if libsql.is_libsql_url(connection_url):
        return "libsql"
    return "sqlite"


def sqlalchemy_url(connection_url: str) -> str:
    """Translate ``TURSO_CONNECTION_URL`` into a SQLAlchemy URL."""
    backend = backend_of(connection_url)
    if backend == "postgresql":
        return _POSTGRES_DRIVER + connection_url[connection_url.index("://") :]
    if backend == "libsql":
        libsql.websocket_url(connection_url)  # raises for a URL it can't use
        return libsql.SQLALCHEMY_URL
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
        f"TURSO_CONNECTION_URL: unsupported scheme {scheme!r} (use file:PATH, "
        "libsql://HOST, https://HOST, wss://HOST or postgresql://USER@HOST/DB)"
    )


def _is_contended(error: BaseException) -> bool:
    """Whether a failed transaction lost a lock race and is worth running again.

    ``error`` is SQLAlchemy's, or SQLite's own for statements run on the driver's connection.
    """
    if isinstance(error, sa.exc.OperationalError):
        cause: BaseException | None = error.orig
    elif isinstance(error, sqlite3.OperationalError):
        cause = error
    else:
        return False
    if getattr(cause, "sqlstate", None) in _POSTGRES_RETRY_STATES:
        return True
    return any(word in str(cause).lower() for word in ("locked", "busy"))


class Database:
    """Connections to scanbox's database, with read and write transactions."""

    def __init__(
        self, *, url: str, busy_timeout_ms: int = 30_000, auth_token: str | None = None
    ) -> None:
        self.url = sqlalchemy_url(url)
        self.backend: Backend = backend_of(url)
        self.busy_timeout_ms = busy_timeout_ms
        self._connection_url = url
        self._auth_token = auth_token
        self.engine = self._create_engine()
        self._schema_ready = False
        # Pooled connections to a server are closed even when nobody calls dispose(): a
        # dropped libSQL or psycopg connection would otherwise only be closed by the GC.
        weakref.finalize(self, self.engine.dispose)

    def _create_engine(self) -> Engine:
        if self.backend == "postgresql":
            return sa.create_engine(self.url, pool_pre_ping=True)
        if self.backend == "libsql":
            return self._create_libsql_engine()
        return self._create_sqlite_engine()

    def _create_sqlite_engine(self) -> Engine:
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

        _begin_explicitly(engine)
        return engine

    def _create_libsql_engine(self) -> Engine:
        libsql.register_dialect()
        url = libsql.websocket_url(self._connection_url)
        token = self._auth_token
        request_timeout_s = self.busy_timeout_ms / 1000 + LIBSQL_REQUEST_MARGIN_S

        def connect() -> Any:
            import libsql_client.dbapi2  # noqa: PLC0415 (only needed for this backend)

            return libsql_client.dbapi2.connect(
                url,
                auth_token=token,
                timeout=request_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )

        engine = sa.create_engine(libsql.SQLALCHEMY_URL, creator=connect, pool_pre_ping=True)

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @sa.event.listens_for(engine, "handle_error")
        def _on_error(context: sa.engine.ExceptionContext) -> None:
            # A request that timed out may still run on the server: its stream can't be
            # trusted, so the connection is dropped (and the server rolls the stream back).
            if libsql.is_timeout(context.original_exception):
                context.is_disconnect = True

        _begin_explicitly(engine)
        return engine

    def create_schema(self) -> None:
        """Make sure the schema is this code's, once per ``Database``: create it at head in an
        empty database; raise ``SchemaMismatch`` for any other revision, writing nothing."""
        if self._schema_ready:
            return
        state = self._retried(schema.read_state, write=False)
        if not state.current:
            if not state.empty:
                raise schema.mismatch(state)
            self._retried(schema.create_at_head, write=True)
        self._schema_ready = True

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Connection]:
        """A transaction without the schema check, for the commands that read or change the
        schema itself; everything else uses ``read``, ``write`` or ``run_write``."""
        engine = self.engine.execution_options(**{_WRITE_OPTION: write})
        with engine.connect() as connection, connection.begin():
            yield connection

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        self.create_schema()
        with self.transaction(write=True) as connection:
            yield connection

    def _retrying(self) -> tenacity.Retrying:
        """Retries of work that lost a lock race, for as long as the busy timeout."""
        return tenacity.Retrying(
            retry=tenacity.retry_if_exception(_is_contended),
            wait=tenacity.wait_exponential_jitter(multiplier=0.05, max=2.0, jitter=0.05),
            stop=tenacity.stop_after_delay(self.busy_timeout_ms / 1000),
            reraise=True,
        )

    def run_write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a write transaction, retrying the whole of it while the DB is locked."""
        self.create_schema()
        return self._retried(work, write=True)

    def _retried(self, work: Callable[[Connection], T], *, write: bool) -> T:
        """Run ``work`` in a transaction, the whole of it again while the database is locked.

        Reads are retried too: a process's first connection to a new SQLite file switches it
        to WAL, which needs the file alone for a moment and is refused at once, without the
        busy timeout, while another process is creating the schema.
        """
        try:
            for attempt in self._retrying():
                with attempt, self.transaction(write=write) as connection:
                    return work(connection)
        except sa.exc.OperationalError as error:
            if _is_contended(error):
                raise DatabaseBusy(f"database stayed locked: {error.orig}") from error
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")

    def run_outside_transaction(self, statements: Sequence[str]) -> None:
        """Run ``statements`` on the driver's connection, outside any transaction.

        For what SQLite refuses in a transaction (``VACUUM``) or runs better alone
        (``PRAGMA optimize``): scanbox's SQLite connections have no implicit ``BEGIN``. A
        statement that finds the database locked (an upgrade from reading to writing is
        refused at once, without the busy timeout) is run again, as ``run_write`` does.
        """
        try:
            for attempt in self._retrying():
                with attempt:
                    raw = self.engine.raw_connection()
                    try:
                        cursor = raw.cursor()
                        for statement in statements:
                            cursor.execute(statement)
                        cursor.close()
                    finally:
                        raw.close()
        except sqlite3.OperationalError as error:
            if _is_contended(error):
                raise DatabaseBusy(f"database stayed locked: {error}") from error
            raise

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (no write lock taken on SQLite)."""
        self.create_schema()
        engine = self.engine.execution_options(**{_WRITE_OPTION: False})
        with Session(engine, expire_on_commit=False) as session:
            yield session

    def get(self, model: type[M], key: str, *, missing: Callable[[str], ScanboxError]) -> M:
        """The row of ``model`` whose primary key is ``key``; raises ``missing(key)`` if none
        (``UnknownJob``, say)."""
        with self.read() as session:
            row = session.get(model, key)
        if row is None:
            raise missing(key)
        return row

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _begin_explicitly(engine: Engine) -> None:
    """Start SQLite transactions ourselves: ``BEGIN IMMEDIATE`` to write, ``BEGIN`` to read."""

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(_WRITE_OPTION, True)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
