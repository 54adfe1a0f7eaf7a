"""Scan one job with the real parts, and die by SIGKILL the moment its children would be
dispatched: after the transaction that completed it, with its children in it, committed.

``python -m tests.integration.crash_after_commit JOB_ID`` with the settings in the
environment. The database, Redis, the Docker engine and the fetcher container are real; only
the children's dispatcher is this file's, and all it does is end the process. Exits 1 if the
scan ends without a dispatch of children.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta

from worker.app.clients import dispatcher, open_docker, open_redis
from worker.app.containers import container_spec, fetcher_args
from worker.app.database import open_database
from worker.app.egress import proxy_sessions
from worker.app.services import child_limits, outcome_policy
from worker.containers.runner import DockerRunner
from worker.scan.scanner import Scanner
from worker.settings import Settings
from worker.submit.children import ChildScans


class KilledOnDispatch:
    """A ``Dispatcher`` whose every dispatch is a SIGKILL of its own process."""

    def dispatch(
        self, job_ids: Sequence[str], *, priority: str, attempt: int = 1, delay_s: float = 0
    ) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


def main(job_id: str) -> int:
    settings = Settings()
    db = open_database(settings)
    redis = open_redis(settings)
    docker_client = open_docker()
    spec = container_spec(settings)
    scanner = Scanner(
        db=db,
        runner=DockerRunner(client=docker_client, spec=spec, egress=proxy_sessions(settings)),
        dispatcher=dispatcher(settings, redis),
        worker_id="crash-after-commit",
        limits=spec.limits,
        fetch=fetcher_args(settings),
        outcomes=outcome_policy(settings),
        children=ChildScans(
            dispatcher=KilledOnDispatch(),
            limits=child_limits(settings),
            dedup_window=timedelta(milliseconds=settings.dedup_window_ms),
        ),
    )
    state = scanner.scan(job_id)
    sys.stderr.write(f"the scan ended in {state} without dispatching children\n")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
