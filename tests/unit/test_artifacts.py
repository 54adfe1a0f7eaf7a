"""The artifact store: content-addressed, whole or absent, swept by what results still name."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from statemachine.states import State
from statemachine.tables import JOBS
from statemachine.transitions import create_job
from worker.errors import UsageError
from worker.ops.maintenance import Maintenance, referenced_artifacts
from worker.store.artifacts import ArtifactStore
from worker.store.database import Database
from worker.store.models import RESULTS

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_the_same_bytes_are_stored_once_under_their_hash(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    key = store.put(b"png bytes")
    assert key == hashlib.sha256(b"png bytes").hexdigest()
    assert store.put(b"png bytes") == key
    files = [path for path in (tmp_path / "store").rglob("*") if path.is_file()]
    assert files == [tmp_path / "store" / key[:2] / key]
    assert store.read(key) == b"png bytes"


def test_a_file_changed_in_the_store_is_not_returned(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    key = store.put(b"original")
    path = store.path(key)
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    assert store.read(key) is None
    assert store.read("0" * 64) is None


@pytest.mark.parametrize("key", ["../../etc/passwd", "A" * 64, "0" * 63, ""])
def test_a_key_that_is_not_a_sha256_is_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(UsageError, match="not an artifact key"):
        ArtifactStore(tmp_path).path(key)


def _job_with_artifacts(db: Database, job_id: str, keys: list[str], *, finished: datetime) -> None:
    def write(connection: sa.Connection) -> None:
        create_job(
            connection,
            job_id=job_id,
            url="http://127.0.0.1/",
            priority="normal",
            max_attempts=1,
            actor="test",
            now=finished,
            mode="browser",
        )
        connection.execute(
            JOBS.update()
            .where(JOBS.c.id == job_id)
            .values(state=State.COMPLETED.value, finished_at=finished)
        )
        connection.execute(
            RESULTS.insert().values(
                job_id=job_id,
                attempt=1,
                created_at=finished,
                verdict="benign",
                score=0,
                reasons=[],
                report={},
                artifacts=[{"name": "screenshot", "sha256": key, "size": 1} for key in keys],
            )
        )

    db.run_write(write)


def test_retention_removes_the_artifacts_no_kept_result_names(db: Database, tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts")
    shared, old_only, kept_only = (store.put(data) for data in (b"shared", b"old", b"kept"))
    _job_with_artifacts(db, "a" * 32, [shared, old_only], finished=NOW - timedelta(days=40))
    _job_with_artifacts(db, "b" * 32, [shared, kept_only], finished=NOW - timedelta(days=1))

    report = Maintenance(
        db=db, clock=lambda: NOW, retention=timedelta(days=30), artifacts=store
    ).run()

    assert report.jobs_deleted == 1
    assert report.artifacts_removed == 1
    assert referenced_artifacts(db) == {shared, kept_only}
    assert store.read(shared) == b"shared"
    assert store.read(kept_only) == b"kept"
    assert store.read(old_only) is None
