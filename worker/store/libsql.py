"""libSQL servers and Turso, through ``libsql-client``'s DB-API module, under SQLAlchemy.

``libsql_client.dbapi2`` mirrors :mod:`sqlite3` over Hrana over WebSocket: each DB-API
connection holds one Hrana *stream*, which the server ties to one SQLite connection. That is
what scanbox's optimistic lock needs: ``BEGIN IMMEDIATE`` … ``COMMIT`` sent on the stream make
an interactive transaction on the server, and each statement's result carries
``affected_row_count``, which the module reports as ``cursor.rowcount``. (The package's HTTP
client speaks Hrana's v1 HTTP API, with no interactive transactions, so scanbox never uses it:
``https://`` and ``http://`` URLs are reached over WebSocket on the same address, as ``sqld``
and Turso serve both.)

SQLAlchemy gets a dialect: SQLite's, with this module as its DB-API and without the Python
functions (``regexp``, ``floor``) it would register on each connection, which a remote
connection can't run.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

from worker.errors import ConfigurationError

#: URL schemes of ``TURSO_CONNECTION_URL`` that name a libSQL server.
LIBSQL_SCHEMES = ("libsql", "wss", "ws", "https", "http")
#: SQLAlchemy URL of the dialect below; connections come from ``creator``, not from the URL.
SQLALCHEMY_URL = "sqlite+libsql://"
#: The Hrana WebSocket scheme for each HTTP scheme: the same server, the same port.
_WEBSOCKET_SCHEMES = {"https": "wss", "http": "ws"}
#: ``sqlite_errorname`` values meaning the WebSocket or the stream is gone.
_DISCONNECT_CODES = frozenset(
    {
        "SQLITE_CANTOPEN",
        "CLIENT_CLOSED",
        "STREAM_CLOSED",
        "HRANA_WEBSOCKET_ERROR",
        "HRANA_PROTO_ERROR",
    }
)


def is_libsql_url(connection_url: str) -> bool:
    """Whether ``TURSO_CONNECTION_URL`` names a remote libSQL server."""
    return connection_url.partition("://")[0].lower() in LIBSQL_SCHEMES


def websocket_url(connection_url: str) -> str:
    """The Hrana WebSocket URL for a ``libsql://``, ``wss://``, ``https://`` (…) URL."""
    parts = urlsplit(connection_url)
    scheme = parts.scheme.lower()
    if scheme not in LIBSQL_SCHEMES or not parts.hostname:
        raise ConfigurationError(
            f"TURSO_CONNECTION_URL: not a libSQL server URL: {_redacted(connection_url)!r}"
        )
    if parts.username or parts.password:
        raise ConfigurationError(
            "TURSO_CONNECTION_URL: put credentials in TURSO_AUTH_TOKEN, not in the URL"
        )
    return urlunsplit(parts._replace(scheme=_WEBSOCKET_SCHEMES.get(scheme, scheme)))


def _redacted(url: str) -> str:
    return url.partition("?")[0]


def is_timeout(error: BaseException) -> bool:
    """Whether a libSQL call gave up waiting for the server (the stream's state is unknown)."""
    return isinstance(error, TimeoutError | concurrent.futures.TimeoutError)


class LibsqlDialect(SQLiteDialect_pysqlite):
    """SQLite's SQLAlchemy dialect over ``libsql_client.dbapi2``."""

    driver = "libsql"
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> Any:
        import libsql_client.dbapi2  # noqa: PLC0415 (imported when the dialect is used)

        return libsql_client.dbapi2

    def on_connect(self) -> Callable[[Any], None]:
        """Register no Python functions: the server can't call back into this process."""

        def nothing(_dbapi_connection: Any) -> None:
            return

        return nothing

    def is_disconnect(self, e: Any, connection: Any, cursor: Any) -> bool:
        if getattr(e, "sqlite_errorname", None) in _DISCONNECT_CODES:
            return True
        return bool(super().is_disconnect(e, connection, cursor))


def register_dialect() -> None:
    """Make ``sqlite+libsql://`` known to SQLAlchemy (idempotent)."""
    registry.register("sqlite.libsql", __name__, "LibsqlDialect")
