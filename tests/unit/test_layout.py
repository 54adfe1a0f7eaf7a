"""The layout's rules: ``statemachine`` stands alone, and ``worker`` imports one way only."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import worker
from tests.databases import REPOSITORY

WORKER = REPOSITORY / "worker"
STATEMACHINE = REPOSITORY / "statemachine"


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports, at any level (functions and ``TYPE_CHECKING`` too)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            if node.module == "worker":
                for alias in node.names:
                    yield node.lineno, f"worker.{alias.name}"


def _part(path: Path) -> str:
    """The part of ``worker`` a module belongs to: its sub-package, or the module itself."""
    return path.relative_to(WORKER).with_suffix("").parts[0]


def test_every_part_of_worker_is_in_the_rule() -> None:
    parts = {_part(path) for path in WORKER.rglob("*.py")} - {"__init__"}
    assert parts == set(worker.LAYERS)


def test_worker_imports_only_in_the_allowed_direction() -> None:
    wrong = []
    for path in sorted(WORKER.rglob("*.py")):
        if path == WORKER / "__init__.py":
            continue
        source = _part(path)
        allowed = worker.LAYERS[source] | {source}
        for line, module in _imports(path):
            names = module.split(".")
            if names[0] == "worker" and len(names) > 1 and names[1] not in allowed:
                wrong.append(f"{path.relative_to(REPOSITORY)}:{line}: {source} imports {module}")
    assert wrong == []


def test_the_low_packages_import_no_other_package() -> None:
    for package in worker.LOW:
        assert worker.LAYERS[package] <= worker.FOUNDATION


def test_statemachine_imports_nothing_of_worker() -> None:
    for path in sorted(STATEMACHINE.rglob("*.py")):
        for line, module in _imports(path):
            assert module.split(".")[0] not in ("worker", "fetcher"), f"{path}:{line}"


def test_statemachine_works_with_worker_unimportable() -> None:
    program = (
        "import sys\n"
        "sys.modules['worker'] = None\n"
        "from datetime import UTC, datetime\n"
        "import sqlalchemy as sa\n"
        "from sqlmodel import SQLModel\n"
        "from statemachine import State\n"
        "from statemachine.tables import JOBS\n"
        "from statemachine.transitions import create_job, transition\n"
        "engine = sa.create_engine('sqlite://')\n"
        "SQLModel.metadata.create_all(engine)\n"
        "now = datetime.now(UTC)\n"
        "with engine.begin() as connection:\n"
        "    create_job(connection, job_id='j', url='http://127.0.0.1/', priority='normal',\n"
        "               max_attempts=1, actor='t', now=now)\n"
        "    version = transition(connection, job_id='j', source=State.QUEUED,\n"
        "                         target=State.FETCHING, version=1, actor='t', now=now)\n"
        "    state = connection.execute(sa.select(JOBS.c.state)).scalar_one()\n"
        "print(version, state)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "FETCHING"]
