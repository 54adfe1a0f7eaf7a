"""Which schema revision a database is at, read cheaply, and an empty database created at head.

This is what every process does when it first touches the database, so it never imports
Alembic: the revision is one ``SELECT`` on Alembic's own ``alembic_version`` table. A
database is in one of four states:

- *current*: ``alembic_version`` holds ``HEAD``;
- *another revision*: older, or unknown to this code (a newer scanbox upgraded it);
- *pre-migration*: scanbox's tables without ``alembic_version`` (made before migrations);
- *empty*: none of scanbox's tables and no revision.

An empty database is created at head in one write transaction: the tables from the models
and the ``HEAD`` row together, under the schema lock, so that two processes starting at once
on a new database make it once. Anything but *current* and *empty* is refused
(``SchemaMismatch``) until ``scanbox db upgrade`` has run.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from worker.errors import SchemaMismatch
from worker.store import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from worker.store.migrations import HEAD, REVISIONS

#: Alembic's table of applied revisions (its default name and shape).
VERSION_TABLE = sa.Table(
    "alembic_version",
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)
#: PostgreSQL advisory lock taken by every transaction that creates or upgrades the schema
#: (SQLite and libSQL serialise those already: they begin with ``BEGIN IMMEDIATE``).
SCHEMA_LOCK_KEY = 0x7363616E626F78  # "scanbox" in ASCII


@dataclass(frozen=True, kw_only=True)
class SchemaState:
    """What a database holds: its recorded revisions and which of scanbox's tables exist."""

    revisions: tuple[str, ...]
    tables: frozenset[str]

    @property
    def current(self) -> bool:
        """Whether the database is at this code's revision."""
        return self.revisions == (HEAD,)

    @property
    def empty(self) -> bool:
        """Whether the database has nothing of scanbox's yet."""
        return not self.revisions and not self.tables

    @property
    def premigration(self) -> bool:
        """Whether scanbox's tables exist without a recorded revision."""
        return not self.revisions and bool(self.tables)


def scanbox_tables() -> frozenset[str]:
    """The names of every table of the models."""
    return frozenset(SQLModel.metadata.tables)


def read_state(connection: Connection) -> SchemaState:
    """The revisions recorded in the database and which of scanbox's tables it has."""
    inspector = sa.inspect(connection)
    revisions: tuple[str, ...] = ()
    if inspector.has_table(VERSION_TABLE.name):
        rows = connection.execute(sa.select(VERSION_TABLE.c.version_num)).scalars()
        revisions = tuple(sorted(rows))
    tables = scanbox_tables() & set(inspector.get_table_names())
    return SchemaState(revisions=revisions, tables=frozenset(tables))


def lock_schema(connection: Connection) -> None:
    """Hold the schema lock until this transaction ends (PostgreSQL; a no-op elsewhere)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))


def mismatch(state: SchemaState) -> SchemaMismatch:
    """The error for a database this code must not use."""
    return SchemaMismatch(
        found=state.revisions,
        needed=HEAD,
        known=all(revision in REVISIONS for revision in state.revisions),
    )


def create_at_head(connection: Connection) -> None:
    """In a write transaction: create an empty database at head; accept one already there.

    Raises ``SchemaMismatch`` when the database turns out to hold another revision or tables
    made before migrations (another process may have got there first).
    """
    lock_schema(connection)
    state = read_state(connection)
    if state.current:
        return
    if not state.empty:
        raise mismatch(state)
    SQLModel.metadata.create_all(connection)
    VERSION_TABLE.create(connection, checkfirst=True)
    connection.execute(sa.insert(VERSION_TABLE).values(version_num=HEAD))
