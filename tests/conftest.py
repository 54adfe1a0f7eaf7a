"""Session-wide test plumbing: figures that chaos and load tests report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import (  # noqa: F401 (fixtures and the hook, for every test directory)
    database_url,
    libsql_server,
    postgres_server,
    pytest_generate_tests,
)

#: Rows reported by tests through the ``figures`` fixture, printed at the end of the run.
_FIGURES: list[dict[str, Any]] = []


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[list[dict[str, Any]]]:
    """A list a test appends measured figures to; they are printed in the summary."""
    rows: list[dict[str, Any]] = []
    yield rows
    for row in rows:
        _FIGURES.append({"test": request.node.name, **row})


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("scenario figures")
    for row in _FIGURES:
        terminalreporter.write_line(json.dumps(row, sort_keys=True))
    out = Path("test-figures.json")
    out.write_text(json.dumps(_FIGURES, indent=2, sort_keys=True) + "\n")
    terminalreporter.write_line(f"(also written to {out.resolve()})")
