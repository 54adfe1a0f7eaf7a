"""Keeping a claim alive: a thread that renews the job's lease while its scan runs.

A worker that dies stops renewing; once the lease passes, the reaper takes the job back.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from types import TracebackType

from sqlalchemy.engine import Connection

from statemachine.states import State
from statemachine.transitions import renew_lease
from worker.clock import Clock
from worker.errors import ScanboxError
from worker.logs import get_logger
from worker.store.database import Database


class LeaseKeeper:
    """Renews the lease of one claimed job every third of its length, until stopped."""

    def __init__(
        self, *, db: Database, job_id: str, version: int, ttl: timedelta, clock: Clock
    ) -> None:
        self.db = db
        self.job_id = job_id
        self.ttl = ttl
        self.clock = clock
        self._state = State.FETCHING
        self._version = version
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job_id[:8]}", daemon=True)

    def moved(self, *, state: State, version: int) -> None:
        """Follow the job to its new state and version after a transition of ours."""
        with self._lock:
            self._state, self._version = state, version

    @property
    def state(self) -> State:
        """The state this worker last moved the job to."""
        with self._lock:
            return self._state

    @property
    def version(self) -> int:
        """The job's version after this worker's last write."""
        with self._lock:
            return self._version

    @property
    def lost(self) -> bool:
        """Whether the claim was taken back (the job moved without us)."""
        return self._lost.is_set()

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        interval = self.ttl.total_seconds() / 3
        while not self._stop.wait(interval):
            with self._lock:
                state, version = self._state, self._version

            def renew(connection: Connection, state: State = state, version: int = version) -> bool:
                return renew_lease(
                    connection,
                    job_id=self.job_id,
                    state=state,
                    version=version,
                    until=self.clock() + self.ttl,
                )

            try:
                renewed = self.db.run_write(renew)
            except ScanboxError as error:
                get_logger(job_id=self.job_id).warning("lease_renewal_failed", error=str(error))
                continue
            if not renewed:
                with self._lock:
                    if (state, version) != (self._state, self._version):
                        continue  # we moved it ourselves meanwhile
                self._lost.set()
                return
