from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.db import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A fresh SQLite database file (WAL, as in production) for one test."""
    database = Database(url=f"file:{tmp_path / 'scanbox.db'}")
    database.create_schema()
    yield database
    database.dispose()
