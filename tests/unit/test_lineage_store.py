"""The tables of child scans: their revision on a database with rows, and retention."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import select

from statemachine.states import State
from tests.revisions import revision_named
from tests.unit.test_maintenance import NOW, OLD, RECENT, RETENTION, _job
from worker.ops.maintenance import MaintenanceReport, apply_retention
from worker.store.database import Database
from worker.store.lineage import ChildRow, Lineage, insert_children, insert_lineage, lineage_of
from worker.store.migrations import commands
from worker.store.models import JOBS, ScanChild, ScanJob, ScanLineage

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.mark.backends
def test_the_child_scans_revision_keeps_every_job_and_adds_empty_tree_tables(
    database_url: str,
) -> None:
    before, revision = revision_named("child_scans")
    db = Database(url=database_url)
    commands.upgrade(db, target=before)
    with db.engine.connect() as connection, connection.begin():
        connection.execute(
            sa.text(
                "INSERT INTO scan_jobs (id, url, url_key, state, version, attempts,"
                " max_attempts, priority, created_at, updated_at)"
                " VALUES (:id, :url, :url, 'QUEUED', 1, 0, 4, 'high', :at, :at)"
            ),
            {"id": "a" * 32, "url": "http://127.0.0.1/kept", "at": AT.replace(tzinfo=None)},
        )
        assert "scan_lineage" not in sa.inspect(connection).get_table_names()

    done = commands.upgrade(db, target=revision)

    assert done.after == (revision,)
    with db.engine.connect() as connection, connection.begin():
        columns = (JOBS.c.url, JOBS.c.state, JOBS.c.priority, JOBS.c.max_attempts)
        row = connection.execute(sa.select(*columns).where(JOBS.c.id == "a" * 32)).mappings().one()
        assert (row["url"], row["state"], row["priority"], row["max_attempts"]) == (
            "http://127.0.0.1/kept",
            State.QUEUED.value,
            "high",
            4,
        )
        # Jobs made before the revision are in no tree.
        assert lineage_of(connection, "a" * 32) is None
        insert_lineage(
            connection,
            [Lineage(job_id="a" * 32, parent_id=None, depth=0, max_depth=1, max_children=2)],
            now=AT,
        )
        lineage = lineage_of(connection, "a" * 32)
    assert lineage is not None
    assert lineage.levels_left == 1
    db.dispose()


def test_retention_deletes_the_tree_rows_of_deleted_jobs_only(db: Database) -> None:
    _job(db, "old-parent", created=OLD, final=State.COMPLETED)
    _job(db, "recent-child", created=RECENT, final=State.COMPLETED)
    _job(db, "old-linked", created=OLD, final=State.COMPLETED)

    def tree(connection: sa.Connection) -> None:
        insert_lineage(
            connection,
            [
                Lineage(job_id="old-parent", parent_id=None, depth=0, max_depth=1, max_children=5),
                Lineage(
                    job_id="recent-child",
                    parent_id="old-parent",
                    depth=1,
                    max_depth=1,
                    max_children=5,
                ),
            ],
            now=OLD,
        )
        insert_children(
            connection,
            [
                ChildRow(
                    parent_id="old-parent",
                    job_id="recent-child",
                    url="http://127.0.0.2/",
                    via="link",
                    created=True,
                    position=0,
                ),
                ChildRow(
                    parent_id="recent-child",
                    job_id="old-linked",
                    url="http://127.0.0.3/",
                    via="form",
                    created=False,
                    position=0,
                ),
            ],
            now=OLD,
        )

    db.run_write(tree)
    report = MaintenanceReport()

    apply_retention(db, cutoff=NOW - RETENTION, report=report)

    with db.read() as session:
        jobs = sorted(job.id for job in session.exec(select(ScanJob)))
        lineage = {row.job_id: row.parent_id for row in session.exec(select(ScanLineage))}
        children = session.exec(select(ScanChild)).all()
    assert jobs == ["recent-child"]
    # The kept child still names its parent, which is gone.
    assert lineage == {"recent-child": "old-parent"}
    assert children == []
    assert report.lineage_rows_deleted == 3
    assert report.jobs_deleted == 2
