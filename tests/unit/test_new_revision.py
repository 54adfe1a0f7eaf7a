"""``python -m worker.store.migrations MESSAGE``: the next revision, by autogenerate, written
in batch mode with plain SQLAlchemy types, and applicable."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from tests.databases import REPOSITORY
from worker.store.database import Database
from worker.store.migrations import HEAD, VERSIONS, commands

# A model change made in a process of its own (the models are global), then the revision.
_CHANGE_AND_GENERATE = """
import sys
from pathlib import Path
import sqlalchemy as sa
from statemachine.tables import JOBS, UTCDateTime
from worker.store.migrations import VERSIONS
from worker.store.migrations.commands import new_revision

JOBS.append_column(sa.Column("note", sa.String(length=200), nullable=True))
JOBS.append_column(sa.Column("noted_at", UTCDateTime(), nullable=True))
extra = Path(sys.argv[1])
print(new_revision(message="add scan_jobs.note", workdir=extra.parent, into=extra,
                   versions=(VERSIONS, extra)))
"""


def _imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_a_model_change_becomes_a_batch_revision_that_applies(tmp_path: Path) -> None:
    extra = tmp_path / "versions"
    extra.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", _CHANGE_AND_GENERATE, str(extra)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert path == extra / f"{int(HEAD) + 1:04d}_add_scan_jobs_note.py"
    text = path.read_text()
    assert "with op.batch_alter_table('scan_jobs', schema=None) as batch_op:" in text
    assert "sa.Column('note', sa.String(length=200), nullable=True)" in text
    assert "sa.Column('noted_at', sa.DateTime(), nullable=True)" in text
    assert f"down_revision = '{HEAD}'" in text
    assert _imported(path) <= {"__future__", "alembic", "sqlalchemy"}

    db = Database(url=f"file:{tmp_path / 'apply.db'}")
    upgraded = commands.upgrade(db, versions=(VERSIONS, extra))
    assert upgraded.after == (f"{int(HEAD) + 1:04d}",)
    with db.engine.connect() as connection, connection.begin():
        columns = {column["name"] for column in sa.inspect(connection).get_columns("scan_jobs")}
    assert {"note", "noted_at"} <= columns
    db.dispose()


def test_unchanged_models_give_an_empty_revision(tmp_path: Path) -> None:
    extra = tmp_path / "versions"
    extra.mkdir()
    path = commands.new_revision(
        message="nothing", workdir=tmp_path, into=extra, versions=(VERSIONS, extra)
    )
    module = ast.parse(path.read_text())
    bodies = {
        node.name: [type(statement).__name__ for statement in node.body]
        for node in module.body
        if isinstance(node, ast.FunctionDef)
    }
    assert bodies == {"upgrade": ["Pass"], "downgrade": ["Pass"]}


def test_the_command_line_wants_one_message() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "worker.store.migrations"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("usage: python -m worker.store.migrations")
