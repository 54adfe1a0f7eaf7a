"""Which backend a ``TURSO_CONNECTION_URL`` names, and how scanbox reaches it."""

from __future__ import annotations

import pytest

from worker.errors import ConfigurationError
from worker.store.database import backend_of, sqlalchemy_url
from worker.store.libsql import LibsqlDialect, is_timeout, websocket_url


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("file:./scanbox.db", "sqlite"),
        ("file:///var/lib/scanbox.db", "sqlite"),
        ("sqlite:///x.db", "sqlite"),
        (":memory:", "sqlite"),
        ("libsql://scanbox-team.turso.test", "libsql"),
        ("wss://db.internal.test", "libsql"),
        ("ws://127.0.0.1:8080", "libsql"),
        ("https://db.internal.test", "libsql"),
        ("http://127.0.0.1:8080", "libsql"),
        ("postgresql://scanbox@127.0.0.1:5432/scanbox", "postgresql"),
        ("postgres://scanbox@127.0.0.1/scanbox", "postgresql"),
        ("postgresql+psycopg://scanbox@127.0.0.1/scanbox", "postgresql"),
    ],
)
def test_the_url_scheme_picks_the_backend(url: str, backend: str) -> None:
    assert backend_of(url) == backend


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file:./scanbox.db", "sqlite:///./scanbox.db"),
        ("file:///var/lib/scanbox.db", "sqlite:////var/lib/scanbox.db"),
        ("postgresql://u:p@127.0.0.1:5432/db", "postgresql+psycopg://u:p@127.0.0.1:5432/db"),
        ("postgres://u@127.0.0.1/db", "postgresql+psycopg://u@127.0.0.1/db"),
        ("libsql://team.turso.test", "sqlite+libsql://"),
        ("https://team.turso.test", "sqlite+libsql://"),
    ],
)
def test_sqlalchemy_urls(url: str, expected: str) -> None:
    assert sqlalchemy_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # libsql:// is Hrana over TLS WebSocket; libsql-client resolves it (and ?tls=0) itself.
        ("libsql://team.turso.test", "libsql://team.turso.test"),
        ("libsql://127.0.0.1:8080?tls=0", "libsql://127.0.0.1:8080?tls=0"),
        ("https://team.turso.test", "wss://team.turso.test"),
        ("http://127.0.0.1:8080/db1", "ws://127.0.0.1:8080/db1"),
        ("wss://team.turso.test", "wss://team.turso.test"),
        ("ws://127.0.0.1:8080", "ws://127.0.0.1:8080"),
    ],
)
def test_every_libsql_url_is_reached_over_websocket(url: str, expected: str) -> None:
    assert websocket_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://127.0.0.1/db", "unsupported scheme 'mysql'"),
        ("https://user:secret@team.turso.test", "TURSO_AUTH_TOKEN"),
        ("libsql://", "not a libSQL server URL"),
        ("file:", "without a path"),
    ],
)
def test_unusable_urls_are_configuration_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as raised:
        sqlalchemy_url(url)
    assert "secret" not in str(raised.value)


class _HranaError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.sqlite_errorname = code


@pytest.mark.parametrize(
    ("code", "disconnected"),
    [
        ("CLIENT_CLOSED", True),
        ("STREAM_CLOSED", True),
        ("HRANA_WEBSOCKET_ERROR", True),
        ("SQLITE_CANTOPEN", True),
        ("SQLITE_BUSY", False),
        ("SQLITE_CONSTRAINT_UNIQUE", False),
    ],
)
def test_a_lost_websocket_or_stream_counts_as_a_disconnect(code: str, disconnected: bool) -> None:
    dialect = LibsqlDialect(dbapi=LibsqlDialect.import_dbapi())
    assert dialect.is_disconnect(_HranaError(code), None, None) is disconnected


def test_a_request_that_timed_out_is_recognised() -> None:
    assert is_timeout(TimeoutError())
    assert not is_timeout(OSError("refused"))
