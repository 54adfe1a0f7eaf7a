"""Databases as scanbox made them before migrations, and the rows of any database, for tests.

The schema is the DDL that ``create_all`` emitted at commit 5ccc6f6 (captured in
``tests/fixtures/schema_5ccc6f6``), not today's models: a test of an upgrade must not build
its "old" database with the code it upgrades.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from worker.store.database import Database
from worker.store.migrations.baseline import BASELINE_COLUMNS

#: The captured schema and rows of commit 5ccc6f6.
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "schema_5ccc6f6"
#: Every table of that schema, each with the columns its rows are ordered by.
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "scan_jobs": ("id",),
    "audit_logs": ("id",),
    "scan_results": ("id",),
    "url_validators": ("url_key",),
    "schedules": ("id",),
    "schedule_ticks": ("schedule_id", "tick_at"),
    "runs": ("id",),
}
#: How many rows ``rows.sql`` puts in each table.
FIXTURE_COUNTS = {
    "scan_jobs": 8,
    "audit_logs": 27,
    "scan_results": 2,
    "url_validators": 1,
    "schedules": 2,
    "schedule_ticks": 3,
    "runs": 4,
}


def statements(path: Path) -> list[str]:
    """The SQL statements of a fixture file (each ends with ``;`` at the end of a line)."""
    lines = [line for line in path.read_text().splitlines() if not line.startswith("--")]
    text = "\n".join(lines) + "\n"
    return [part.strip() for part in text.split(";\n") if part.strip()]


def schema_file(db: Database) -> Path:
    """The captured DDL for ``db``'s backend (the libSQL server runs SQLite)."""
    return FIXTURES / ("postgresql.sql" if db.backend == "postgresql" else "sqlite.sql")


def build_premigration(db: Database, *, rows: bool = True) -> None:
    """Make ``db`` (empty) what 5ccc6f6 made: its tables, and with ``rows`` its rows."""
    work = statements(schema_file(db)) + (statements(FIXTURES / "rows.sql") if rows else [])
    with db.engine.connect() as connection, connection.begin():
        # The driver's own cursor, without parameters: psycopg would read the ``%`` of the
        # URLs' escapes as placeholders otherwise.
        cursor = connection.connection.cursor()
        for statement in work:
            cursor.execute(statement)
        cursor.close()


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the 5ccc6f6 schema, as the driver returns it, in key order
    (the columns of that schema only: later revisions add some)."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with db.engine.connect() as connection, connection.begin():
        for table, keys in TABLE_KEYS.items():
            columns = ", ".join(BASELINE_COLUMNS[table])
            query = f"SELECT {columns} FROM {table} ORDER BY {', '.join(keys)}"
            found[table] = [tuple(row) for row in connection.exec_driver_sql(query)]
    return found


def table_names(db: Database) -> set[str]:
    """The tables in ``db``."""
    with db.engine.connect() as connection, connection.begin():
        return set(sa.inspect(connection).get_table_names())
