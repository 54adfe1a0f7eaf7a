"""Jobs walked to COMPLETED through scanbox's own write path, for tests that read them back."""

from __future__ import annotations

import json
from typing import Any

from statemachine.states import State
from statemachine.transitions import transition
from tests.support import make_report
from worker.analysis.report import parse_report
from worker.analysis.rules import Judgement, Reason, Verdict
from worker.clock import utcnow
from worker.containers.runner import ContainerRun
from worker.scan.claim import Claim
from worker.scan.record import complete, to_analyzing
from worker.store import queries
from worker.store.database import Database


def finish(
    db: Database,
    job_id: str,
    *,
    verdict: Verdict = "benign",
    score: int = 0,
    reasons: tuple[Reason, ...] = (),
    egress: tuple[dict[str, Any], ...] | None = None,
    **report: Any,
) -> None:
    """Claim ``job_id``, then record a run whose report has ``report``'s changes and the
    given verdict, as a worker would (``worker.scan.record``); ``egress`` is the run's record
    of its egress session's connections."""
    job = queries.get_job(db, job_id)
    now = utcnow()
    with db.write() as connection:
        version = transition(
            connection,
            job_id=job_id,
            source=State.QUEUED,
            target=State.FETCHING,
            version=job.version,
            actor="test-worker",
            now=now,
            changes={"attempts": 1, "started_at": now},
        )
    assert version is not None
    claim = Claim(
        job_id=job_id,
        url=job.url,
        attempt=1,
        max_attempts=job.max_attempts,
        priority=job.priority,
        version=version,
    )
    stdout = json.dumps(make_report(requested_url=job.url, **report)).encode()
    run = ContainerRun(container_id="c" * 64, stdout=stdout, duration_ms=42.0, egress=egress)
    analysing = to_analyzing(
        db, claim=claim, version=version, run=run, actor="test-worker", now=now
    )
    assert analysing is not None
    assert complete(
        db,
        claim=claim,
        version=analysing,
        run=run,
        report=parse_report(stdout),
        judgement=Judgement(verdict=verdict, score=score, reasons=reasons),
        previous=None,
        keep_validators=False,
        actor="test-worker",
        clock=utcnow,
    )
