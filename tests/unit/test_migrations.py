"""Schema migrations: the baseline is the schema of commit 5ccc6f6, upgrades keep every row,
``upgrade head`` matches the models, and a database at another revision is refused.

Tests marked ``backends`` run on SQLite here and on the libSQL server and PostgreSQL as
integration tests.
"""

from __future__ import annotations

import ast
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.ddl.impl import DefaultImpl
from alembic.ddl.postgresql import PostgresqlImpl
from alembic.ddl.sqlite import SQLiteImpl
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, col, select

from statemachine.states import State
from statemachine.transitions import transition
from tests.premigration import (
    FIXTURE_COUNTS,
    build_premigration,
    snapshot,
    table_names,
)
from worker.clock import utcnow
from worker.errors import MigrationFailed, SchemaMismatch, UsageError
from worker.store import queries
from worker.store.database import Database
from worker.store.libsql import LibsqlDialect
from worker.store.migrations import BASELINE, HEAD, REVISIONS, VERSIONS, commands
from worker.store.migrations.baseline import BASELINE_COLUMNS
from worker.store.migrations.options import context_options
from worker.store.migrations.state import VERSION_TABLE
from worker.store.models import AuditLog, RunRecord, ScanJob, ScanResult, Schedule, ScheduleTick


def _revisions(db: Database) -> tuple[str, ...]:
    return commands.current(db).revisions


def _set_revision(db: Database, revision: str) -> None:
    with db.engine.connect() as connection, connection.begin():
        connection.execute(sa.update(VERSION_TABLE).values(version_num=revision))


def _schema(db: Database) -> dict[str, Any]:
    """Everything reflection says about each of scanbox's tables, in a comparable form."""
    found: dict[str, Any] = {}
    with db.engine.connect() as connection, connection.begin():
        inspector = sa.inspect(connection)
        for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
            found[table] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                    for c in inspector.get_columns(table)
                ],
                "primary_key": inspector.get_pk_constraint(table),
                "foreign_keys": sorted(
                    json.dumps(fk, sort_keys=True, default=str)
                    for fk in inspector.get_foreign_keys(table)
                ),
                "indexes": sorted(
                    json.dumps(index, sort_keys=True, default=str)
                    for index in inspector.get_indexes(table)
                ),
                "unique": sorted(
                    json.dumps(unique, sort_keys=True, default=str)
                    for unique in inspector.get_unique_constraints(table)
                ),
            }
        if db.backend != "postgresql":
            rows = connection.exec_driver_sql(
                "SELECT type, name, sql FROM sqlite_master "
                "WHERE tbl_name != 'alembic_version' ORDER BY name"
            )
            # A column added later (ALTER TABLE ADD COLUMN) is written into the table's SQL
            # without the line break create_all puts before it: the same table otherwise.
            found["sqlite_master"] = [
                (kind, name, None if sql is None else " ".join(sql.split()))
                for kind, name, sql in rows
            ]
    return found


@pytest.fixture
def fresh(database_url: str) -> Database:
    """An empty database on this test's backend, not yet touched by scanbox."""
    return Database(url=database_url)


# The scripts themselves.


def test_the_revisions_listed_are_the_scripts_oldest_first() -> None:
    assert tuple(item.id for item in reversed(commands.history())) == REVISIONS
    assert commands.known_revisions() == frozenset(REVISIONS)


def test_head_is_the_newest_script_and_history_is_one_line() -> None:
    directory = commands.scripts()
    assert directory.get_heads() == [HEAD]
    assert directory.get_bases() == [BASELINE]
    history = commands.history()
    assert history[0].id == HEAD
    assert history[0].head
    assert history[-1].id == BASELINE
    assert history[-1].down_revision is None
    for newer, older in itertools.pairwise(history):
        assert newer.down_revision == older.id


def test_baseline_columns_are_what_the_baseline_revision_creates(tmp_path: Path) -> None:
    db = Database(url=f"file:{tmp_path / 'baseline.db'}")
    commands.upgrade(db, target=BASELINE)
    with db.engine.connect() as connection, connection.begin():
        inspector = sa.inspect(connection)
        made = {
            table: tuple(column["name"] for column in inspector.get_columns(table))
            for table in inspector.get_table_names()
            if table != "alembic_version"
        }
    assert made == BASELINE_COLUMNS


def test_revisions_import_nothing_but_alembic_sqlalchemy_and_the_standard_library() -> None:
    """A revision is frozen: model code it imported would change under it. (``idna`` spells
    international hosts for the revision that fills ``scan_jobs.host``.)"""
    scripts = sorted(VERSIONS.glob("*.py"))
    assert scripts
    for script in scripts:
        imported = set()
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        allowed = {"alembic", "sqlalchemy", "idna"} | set(sys.stdlib_module_names)
        assert imported <= allowed, script


def test_alembic_treats_the_libsql_dialect_as_sqlite() -> None:
    """Its name is SQLite's, so Alembic's SQLite implementation (batch mode) serves it."""
    assert LibsqlDialect.name == "sqlite"
    dialect = LibsqlDialect(dbapi=LibsqlDialect.import_dbapi())
    assert DefaultImpl.get_by_dialect(dialect) is SQLiteImpl


@pytest.mark.backends
def test_each_backend_gets_its_alembic_implementation(fresh: Database) -> None:
    expected = PostgresqlImpl if fresh.backend == "postgresql" else SQLiteImpl
    with fresh.transaction(write=False) as connection:
        assert type(MigrationContext.configure(connection).impl) is expected


# The baseline, on every backend.


@pytest.mark.backends
def test_the_baseline_is_exactly_the_schema_of_5ccc6f6(database_url: str, fresh: Database) -> None:
    build_premigration(fresh, rows=False)
    old = _schema(fresh)
    fresh.dispose()
    other = Database(url=_sibling(database_url))
    commands.upgrade(other, target=BASELINE)
    assert _schema(other) == old
    other.dispose()


def _sibling(database_url: str) -> str:
    """Another empty database next to ``database_url`` on the same server or directory."""
    if database_url.startswith("file:"):
        return database_url.removesuffix(".db") + "-sibling.db"
    base, _, name = database_url.rpartition("/")
    if database_url.startswith("postgresql"):
        sibling = f"{name}_sibling"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{sibling}"')
        return f"{base}/{sibling}"
    return f"{base}/{name}_sibling"


@pytest.mark.backends
def test_upgrade_head_matches_the_models(fresh: Database) -> None:
    """A model change without a revision fails here."""
    commands.upgrade(fresh)
    with fresh.engine.connect() as connection, connection.begin():
        context = MigrationContext.configure(connection, opts=context_options())
        assert compare_metadata(context, SQLModel.metadata) == []


@pytest.mark.backends
def test_first_use_creates_what_upgrade_head_creates(database_url: str, fresh: Database) -> None:
    fresh.create_schema()
    assert _revisions(fresh) == (HEAD,)
    made_on_first_use = _schema(fresh)
    fresh.dispose()
    other = Database(url=_sibling(database_url))
    commands.upgrade(other)
    assert _schema(other) == made_on_first_use
    other.dispose()


# A database made before migrations.


@pytest.mark.backends
def test_a_premigration_database_is_upgraded_with_every_row_kept(fresh: Database) -> None:
    build_premigration(fresh)
    before = snapshot(fresh)
    assert {table: len(rows) for table, rows in before.items()} == FIXTURE_COUNTS

    done = commands.upgrade(fresh)

    assert (done.before, done.after, done.stamped_baseline) == ((), (HEAD,), True)
    assert snapshot(fresh) == before
    _check_rows_read_back(fresh)
    # And the database is usable as any other at head: a worker's next write goes through.
    queued = queries.get_job(fresh, "0000000000000000000000000000q001")
    fresh.run_write(
        lambda connection: transition(
            connection,
            job_id=queued.id,
            source=State.QUEUED,
            target=State.FETCHING,
            version=queued.version,
            actor="test",
            now=utcnow(),
        )
    )
    assert queries.get_job(fresh, queued.id).state == State.FETCHING
    assert [row.to_state for row in queries.get_audit(fresh, queued.id)] == ["QUEUED", "FETCHING"]


def _check_rows_read_back(db: Database) -> None:
    """The fixture's values, read through today's models."""
    with db.read() as session:
        jobs = {job.id: job for job in session.exec(select(ScanJob))}
        results = list(session.exec(select(ScanResult).order_by(col(ScanResult.id))))
        audit = list(session.exec(select(AuditLog)))
        schedules = {s.id: s for s in session.exec(select(Schedule))}
        ticks = list(session.exec(select(ScheduleTick)))
        runs = {run.id: run for run in session.exec(select(RunRecord))}
    assert {State(job.state) for job in jobs.values()} == set(State)
    failed = jobs["0000000000000000000000000000x005"]
    assert (failed.exit_code, failed.oom_killed, failed.error_code) == (137, True, "oom_killed")
    assert failed.cpu_limit == 0.25
    assert failed.memory_limit_mb == 128
    assert failed.finished_at is not None
    assert failed.finished_at.isoformat() == "2026-12-01T10:00:12+00:00"
    discarded = jobs["0000000000000000000000000000d007"]
    assert discarded.error_message == (
        "the Docker engine did not answer: 'quoted' \"and\" <b>markup</b>"
    )
    first, not_modified = results
    assert first.title == "Sign in — “Bank” <script>alert(1)</script>"
    assert first.reasons[0]["rule"] == "password_form"
    assert first.report["headers"]["etag"] == '"v1"'
    assert first.report["timing_ms"] == {"connect": 0.4, "total": 812.5}
    assert (not_modified.not_modified, not_modified.previous_result_id) == (True, first.id)
    assert len(audit) == FIXTURE_COUNTS["audit_logs"]
    assert schedules["000000000000000000000000sched002"].error == (
        "invalid cron expression '61 * * * *': bad minute"
    )
    assert not schedules["000000000000000000000000sched002"].active
    assert sorted(tick.outcome for tick in ticks) == ["skipped", "submitted", "submitted"]
    assert runs["00000000000000000000000000run001"].detail == {"concurrency": 2, "burst": True}
    assert runs["00000000000000000000000000run003"].finished_at is None


@pytest.mark.backends
def test_a_premigration_database_is_refused_until_upgraded(fresh: Database) -> None:
    build_premigration(fresh)
    before = snapshot(fresh)
    with pytest.raises(SchemaMismatch) as refused:
        fresh.create_schema()
    assert refused.value.found == ()
    assert str(refused.value) == (
        "database schema has no revision (its tables were made before migrations), "
        f"this scanbox needs {HEAD}: run 'scanbox db upgrade'"
    )
    with pytest.raises(SchemaMismatch):
        queries.list_jobs(fresh)
    assert snapshot(fresh) == before
    assert "alembic_version" not in table_names(fresh)


@pytest.mark.backends
def test_a_newer_revision_is_refused_and_not_upgraded(database_url: str, fresh: Database) -> None:
    fresh.create_schema()
    _set_revision(fresh, "9f9f9f9f9f9f")
    refused_db = Database(url=database_url)
    with pytest.raises(SchemaMismatch) as refused:
        refused_db.create_schema()
    assert (refused.value.found, refused.value.known) == (("9f9f9f9f9f9f",), False)
    assert str(refused.value) == (
        "database schema is at revision 9f9f9f9f9f9f, which this scanbox does not know "
        f"(it needs {HEAD}): a newer scanbox upgraded it; run that version"
    )
    with pytest.raises(SchemaMismatch):
        commands.upgrade(refused_db)
    assert _revisions(refused_db) == ("9f9f9f9f9f9f",)
    refused_db.dispose()


def test_a_premigration_database_without_the_baseline_tables_is_left_alone(
    fresh: Database,
) -> None:
    build_premigration(fresh)
    with fresh.engine.connect() as connection, connection.begin():
        connection.exec_driver_sql("DROP TABLE runs")
        connection.exec_driver_sql("ALTER TABLE schedules DROP COLUMN skipped_ticks")
    before = snapshot_without_runs(fresh)
    with pytest.raises(MigrationFailed, match=r"missing schedules\.skipped_ticks, runs"):
        commands.upgrade(fresh)
    assert snapshot_without_runs(fresh) == before
    assert "alembic_version" not in table_names(fresh)


def snapshot_without_runs(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    with db.engine.connect() as connection, connection.begin():
        return {
            table: [tuple(row) for row in connection.exec_driver_sql(f"SELECT * FROM {table}")]
            for table in ("scan_jobs", "audit_logs", "schedules")
        }


# Later revisions (written by the test, beside scanbox's own).

#: The id a revision after scanbox's newest takes.
NEXT = f"{int(HEAD) + 1:04d}"

_BATCH_REVISION = f'''"""add scan_jobs.note, and make url_key NOT NULL

Revision ID: {NEXT}
Revises: {HEAD}
"""

import sqlalchemy as sa
from alembic import op

revision = "{NEXT}"
down_revision = "{HEAD}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE scan_jobs SET url_key = url WHERE url_key IS NULL")
    with op.batch_alter_table("scan_jobs") as batch_op:
        batch_op.add_column(sa.Column("note", sa.String(), nullable=True))
        batch_op.alter_column("url_key", existing_type=sa.String(), nullable=False)


def downgrade() -> None:
    pass
'''

_ORPHAN_REVISION = f'''"""leave a result whose job does not exist

Revision ID: {NEXT}
Revises: {HEAD}
"""

from alembic import op

revision = "{NEXT}"
down_revision = "{HEAD}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO scan_results (job_id, attempt, created_at, verdict, score, not_modified) "
        "VALUES ('no-such-job', 1, '2026-12-03 00:00:00', 'benign', 0, FALSE)"
    )


def downgrade() -> None:
    pass
'''


def _extra_versions(tmp_path: Path, source: str) -> tuple[Path, ...]:
    extra = tmp_path / "versions"
    extra.mkdir()
    (extra / f"{NEXT}_test.py").write_text(source)
    return (VERSIONS, extra)


@pytest.mark.backends
def test_a_batch_mode_revision_rebuilds_a_referenced_table_with_its_rows(
    fresh: Database, tmp_path: Path
) -> None:
    build_premigration(fresh)
    commands.upgrade(fresh)
    before = snapshot(fresh)
    versions = _extra_versions(tmp_path, _BATCH_REVISION)
    known = commands.known_revisions(versions=versions)
    assert commands.standing(commands.current(fresh), known=known, head=NEXT) == "behind"

    done = commands.upgrade(fresh, versions=versions)

    assert (done.before, done.after) == ((HEAD,), (NEXT,))
    # Every row as it was, and the new column NULL in each.
    assert snapshot(fresh) == before
    with fresh.engine.connect() as connection, connection.begin():
        notes = connection.exec_driver_sql("SELECT note FROM scan_jobs").scalars().all()
        assert len(notes) == len(before["scan_jobs"])
        assert set(notes) == {None}
        inspector = sa.inspect(connection)
        columns = {c["name"]: c for c in inspector.get_columns("scan_jobs")}
        assert not columns["url_key"]["nullable"]
        assert [fk["referred_table"] for fk in inspector.get_foreign_keys("scan_results")] == [
            "scan_jobs"
        ]
        if fresh.backend != "postgresql":
            assert connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
            # Foreign keys are enforced again on this pooled connection.
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_an_upgrade_that_breaks_a_foreign_key_changes_nothing(
    fresh: Database, tmp_path: Path
) -> None:
    fresh.create_schema()
    with pytest.raises(MigrationFailed, match="broken foreign key, the first in table"):
        commands.upgrade(fresh, versions=_extra_versions(tmp_path, _ORPHAN_REVISION))
    assert _revisions(fresh) == (HEAD,)
    with fresh.read() as session:
        assert session.exec(select(ScanResult)).all() == []


def test_unknown_and_backward_targets_are_usage_errors(fresh: Database, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown revision 'nope'"):
        commands.upgrade(fresh, target="nope")
    assert table_names(fresh) == set()
    versions = _extra_versions(tmp_path, _BATCH_REVISION)
    commands.upgrade(fresh, versions=versions)
    with pytest.raises(
        UsageError, match=f"at revision {NEXT}, past {BASELINE}: scanbox does not downgrade"
    ):
        commands.upgrade(fresh, target=BASELINE, versions=versions)
    assert _revisions(fresh) == (NEXT,)


def test_an_empty_database_is_created_once_and_then_only_checked(
    database_url: str, fresh: Database
) -> None:
    fresh.create_schema()
    with fresh.engine.connect() as connection, connection.begin():
        assert connection.execute(sa.select(VERSION_TABLE.c.version_num)).all() == [(HEAD,)]
    again = Database(url=database_url)
    again.create_schema()
    assert _revisions(again) == (HEAD,)
    again.dispose()


def test_a_revision_read_from_the_database_is_printed_safely() -> None:
    error = SchemaMismatch(found=("\x1b[31mred\x1b[0m",), needed=HEAD, known=False)
    assert "\x1b" not in str(error)
    assert "'\\x1b[31mred\\x1b[0m'" in str(error)


def test_an_older_known_revision_asks_for_an_upgrade() -> None:
    error = SchemaMismatch(found=("0001",), needed="0002", known=True)
    assert str(error) == (
        "database schema is at revision 0001, this scanbox needs 0002: run 'scanbox db upgrade'"
    )
