"""The database each test runs on, on each backend it is run on (fixtures for every test).

A test marked ``@pytest.mark.backends`` that uses ``database_url`` (or the unit tests' ``db``)
runs once per backend: SQLite (a file of its own), the in-project libSQL server and
PostgreSQL (a database of its own on a server of the session's own). The server runs are
integration tests: they need those servers, and under ``CI=true`` they fail without them.
``tests/conftest.py`` imports these fixtures and the hook, so every test directory has them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import LibsqlServer, PostgresServer, start_postgres

#: The backends ``@pytest.mark.backends`` tests run on.
BACKENDS = ("sqlite", "libsql", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "backends"
    ):
        metafunc.parametrize(
            "database_url",
            [
                pytest.param(name, marks=() if name == "sqlite" else pytest.mark.integration)
                for name in BACKENDS
            ],
            indirect=True,
        )


@pytest.fixture(scope="session")
def libsql_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LibsqlServer]:
    """The in-project libSQL server, for the whole session."""
    server = LibsqlServer(directory=tmp_path_factory.mktemp("libsql"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of the session's own (Debian's package)."""
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """``TURSO_CONNECTION_URL`` of an empty database for this test (SQLite unless parametrized)."""
    backend = getattr(request, "param", "sqlite")
    if backend == "libsql":
        server: LibsqlServer | PostgresServer = request.getfixturevalue("libsql_server")
        return server.new_database()
    if backend == "postgresql":
        server = request.getfixturevalue("postgres_server")
        return server.new_database()
    return f"file:{tmp_path / 'scanbox.db'}"
