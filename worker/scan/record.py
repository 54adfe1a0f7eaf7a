"""The writes of a successful attempt: FETCHING -> ANALYZING, then ANALYZING -> COMPLETED.

Each is one transaction through ``statemachine.transitions.transition``; a ``None`` or
``False`` answer means another writer moved the job first (its lease was taken back), and then
nothing was written. The COMPLETED move stores the result row, the URL's validators for a
conditional re-scan, the job's child jobs (``worker.submit.children``) and its webhook
deliveries (``worker.store.outbox``) in the same transaction. (The claim is
``worker.scan.claim``; a failed attempt is settled by ``worker.scan.outcome``.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from statemachine.states import State
from statemachine.transitions import transition
from worker.analysis.report import FetchReport
from worker.analysis.rules import Judgement
from worker.clock import Clock
from worker.containers.runner import ContainerRun
from worker.errors import DatabaseUnavailable, ResultRejected
from worker.scan.browser import Capture
from worker.scan.claim import Claim
from worker.scan.conditional import Previous, remember, result_columns
from worker.scan.leads import leads_of
from worker.store.database import Database
from worker.store.outbox import queue_webhooks
from worker.store.results import (
    connected_addresses,
    insert_peers,
    insert_result,
    search_columns,
)
from worker.submit.children import ChildScans, Spawned

T = TypeVar("T")
#: SQLAlchemy errors that mean the database was away, not that it refused the data.
_OUTAGES = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError)


def write_recorded(db: Database, what: str, write: Callable[[Connection], T]) -> T:
    """Run ``write`` in a write transaction; a database error becomes the attempt's outcome.

    A lost connection is transient (the attempt is retried); anything else the database
    refuses (a constraint, a value it can't store) is permanent: the job FAILS with
    ``result_rejected`` instead of sitting in its state until its lease lapses. Locks are
    retried by the database layer itself (``DatabaseBusy`` comes through unchanged).
    """
    try:
        return db.run_write(write)
    except _OUTAGES as error:
        cause = getattr(error, "orig", None) or error
        raise DatabaseUnavailable(f"could not record {what}: {cause}") from error
    except sa.exc.SQLAlchemyError as error:
        cause = getattr(error, "orig", None) or error
        raise ResultRejected(f"the database refused {what}: {cause}") from error


def to_analyzing(
    db: Database, *, claim: Claim, version: int, run: ContainerRun, actor: str, now: datetime
) -> int | None:
    """Record that the container exited 0 with output; return the job's new version."""

    def write(connection: Connection) -> int | None:
        return transition(
            connection,
            job_id=claim.job_id,
            source=State.FETCHING,
            target=State.ANALYZING,
            version=version,
            actor=actor,
            now=now,
            changes={"container_id": run.container_id, "exit_code": 0, "oom_killed": False},
            detail={"attempt": claim.attempt, "duration_ms": round(run.duration_ms, 1)},
        )

    return write_recorded(db, "the container's exit", write)


def result_values(
    *,
    claim: Claim,
    run: ContainerRun,
    report: FetchReport,
    judgement: Judgement,
    previous: Previous | None,
    now: datetime,
    capture: Capture | None = None,
) -> dict[str, Any]:
    """The columns of the result row of a completed attempt (``capture``: a browser scan's,
    whose whole report is stored, with its artifacts)."""
    return {
        "job_id": claim.job_id,
        "attempt": claim.attempt,
        "created_at": now,
        "status_code": report.status_code,
        "final_url": report.final_url,
        **search_columns(
            final_url=report.final_url, peer=report.peer.address if report.peer else None
        ),
        "title": report.title,
        "content_type": report.content_type,
        "size": report.body.size if report.body else None,
        "sha256": report.body.sha256 if report.body else None,
        "fetch_error": report.error.code if report.error else None,
        "verdict": judgement.verdict,
        "score": judgement.score,
        "reasons": [reason.as_dict() for reason in judgement.reasons],
        "report": report.model_dump(mode="json", by_alias=True)
        if capture is None
        else capture.stored,
        "artifacts": None if capture is None else capture.artifacts,
        "duration_ms": round(run.duration_ms, 1),
        "egress": None if run.egress is None else list(run.egress),
        **result_columns(report, previous),
    }


def complete(
    db: Database,
    *,
    claim: Claim,
    version: int,
    run: ContainerRun,
    report: FetchReport,
    judgement: Judgement,
    previous: Previous | None,
    keep_validators: bool,
    actor: str,
    clock: Clock,
    children: ChildScans | None = None,
    capture: Capture | None = None,
) -> Spawned | None:
    """Store the result and move the job to COMPLETED, with its child jobs (``children``);
    ``None`` if another writer won. The children are the caller's to dispatch."""

    def write(connection: Connection) -> Spawned | None:
        now = clock()
        moved = transition(
            connection,
            job_id=claim.job_id,
            source=State.ANALYZING,
            target=State.COMPLETED,
            version=version,
            actor=actor,
            now=now,
            changes={"verdict": judgement.verdict},
            detail={"attempt": claim.attempt, "verdict": judgement.verdict},
        )
        if moved is None:
            return None
        values = result_values(
            claim=claim,
            run=run,
            report=report,
            judgement=judgement,
            previous=previous,
            now=now,
            capture=capture,
        )
        result_id = insert_result(connection, values)
        insert_peers(
            connection,
            job_id=claim.job_id,
            addresses=connected_addresses(peer=values["peer_address"], egress=values["egress"]),
        )
        if keep_validators:
            remember(
                connection,
                url=claim.url,
                job_id=claim.job_id,
                result_id=result_id,
                report=report,
                previous=previous,
                now=now,
            )
        queue_webhooks(connection, job_id=claim.job_id, now=now)
        if children is None:
            return Spawned()
        return children.spawn(
            connection,
            parent_id=claim.job_id,
            priority=claim.priority,
            max_attempts=claim.max_attempts,
            leads=leads_of(report),
            actor=actor,
            now=now,
            mode=claim.mode,
        )

    return write_recorded(db, "the result", write)
