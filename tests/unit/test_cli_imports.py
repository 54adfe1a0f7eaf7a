"""The commands people run to look at jobs import only what they use: no Docker, RQ, Redis,
benchmark, Alembic, logging, metrics or web libraries (each costs start-up time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.databases import REPOSITORY
from tests.premigration import build_premigration
from worker.store.database import Database
from worker.store.migrations.commands import upgrade

#: Packages and modules none of these commands may load.
FORBIDDEN = (
    "docker",
    "rq",
    "redis",
    "requests",
    "worker.bench",
    "worker.containers",
    "worker.queue.dispatch",
    "worker.app.services",
    "alembic",
    "structlog",
    "prometheus_client",
    "worker.api",
    "fastapi",
    "starlette",
    "uvicorn",
    "jinja2",
)
#: A completed job of the fixture rows.
JOB_ID = "0000000000000000000000000000c004"

_PROGRAM = """
import json, sys
from worker.cli import main
try:
    main(sys.argv[2:])
except SystemExit as exit:
    status = exit.code
with open(sys.argv[1], "w") as out:
    json.dump({"status": status, "modules": sorted(sys.modules)}, out)
"""


@pytest.fixture(scope="module")
def database_with_jobs(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"file:{tmp_path_factory.mktemp('imports') / 'scanbox.db'}"
    db = Database(url=url)
    build_premigration(db)
    upgrade(db)
    db.dispose()
    return url


@pytest.mark.parametrize(
    "args",
    [
        ["status", JOB_ID],
        ["status", JOB_ID, "--json"],
        ["list"],
        ["list", "--json"],
        ["show", JOB_ID],
        ["show", JOB_ID, "--json"],
        ["status", "no-such-job"],
        ["--help"],
        ["status", "--help"],
        ["--version"],
    ],
)
def test_reading_commands_load_no_heavy_libraries(
    database_with_jobs: str, tmp_path: Path, args: list[str]
) -> None:
    report = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM, str(report), *args],
        cwd=REPOSITORY,
        env={**os.environ, "TURSO_CONNECTION_URL": database_with_jobs},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(report.read_text())
    assert found["status"] in (0, None, 2), done.stderr
    loaded = [
        name
        for name in found["modules"]
        if any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN)
    ]
    assert loaded == []
    # The command did its work (the import list of a command that failed early proves nothing).
    if args[0] in ("status", "show", "list") and "--help" not in args:
        assert "sqlalchemy" in found["modules"]
        assert "worker.store.queries" in found["modules"]
