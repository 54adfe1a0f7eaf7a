"""The RQ task, ``run_scan(job_id)``, and the per-process scanner it runs on.

RQ imports a task by its dotted name and calls it with JSON-decoded arguments only, so the
task can't receive the scanner: each worker process installs its ``Scanner`` here once at
start-up (``install``), before RQ takes the first job.
"""

from __future__ import annotations

from typing import Protocol

from statemachine.states import State


class ScanRunner(Protocol):
    """Whatever runs one attempt of a scan job (``worker.scan.scanner.Scanner``)."""

    def scan(self, job_id: str) -> State | None:
        """Run one attempt of ``job_id``; return the state it ended in (``None``: not ours)."""


_scanner: ScanRunner | None = None


def install(scanner: ScanRunner | None) -> None:
    """Make ``scanner`` the one this process's tasks run on (``None`` to uninstall)."""
    global _scanner  # noqa: PLW0603 (one per process, set once by the worker at start-up)
    _scanner = scanner


def run_scan(job_id: str) -> str | None:
    """Run one attempt of the scan job ``job_id``; return the state it ended in."""
    if _scanner is None:
        raise RuntimeError("no scanner installed in this process: start it with `scanbox worker`")
    if not isinstance(job_id, str) or len(job_id) > 64:
        raise TypeError("run_scan takes one job id string")
    state = _scanner.scan(job_id)
    return None if state is None else state.value
