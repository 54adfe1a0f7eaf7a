from __future__ import annotations

from collections.abc import Iterator

import pytest

from worker.store.database import Database


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A fresh database for one test: an SQLite file (WAL, as in production) unless the test
    is marked ``backends`` (then also the libSQL server and PostgreSQL)."""
    database = Database(url=database_url)
    database.create_schema()
    yield database
    database.dispose()
