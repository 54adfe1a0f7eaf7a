"""What a submission would do (``--dry-run``, ``dry_run`` in the API), with nothing written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from statemachine.states import State
from statemachine.tables import HTTP_MODE
from worker.clock import Clock, utcnow
from worker.store.database import Database
from worker.submit.batch import check_mode
from worker.submit.callbacks import CallbackRules
from worker.submit.children import DEFAULT_LIMITS, ChildLimits
from worker.submit.plan import Request, check_requests, plan_requests


@dataclass(frozen=True, kw_only=True)
class Preview:
    """What submitting one URL would do (``--dry-run``): a new job, or an existing one."""

    url: str
    #: The existing job it would be folded into; ``None``: a new job (made for it, or for an
    #: earlier URL of the batch it repeats).
    job_id: str | None
    state: State | None
    duplicate: bool
    repeated: bool


def preview_requests(
    requests: Sequence[Request],
    *,
    db: Database,
    dedup_window: timedelta = timedelta(0),
    callbacks: CallbackRules | None = None,
    depth: int = 0,
    max_children: int | None = None,
    child_limits: ChildLimits = DEFAULT_LIMITS,
    mode: str = HTTP_MODE,
    clock: Clock = utcnow,
) -> list[Preview]:
    """What ``submit_requests`` would do with ``requests`` now; nothing is written.

    Checks and deduplication are the same; the answer can change before a real submission.
    """
    check_mode(mode)
    children = child_limits.check(depth=depth, max_children=max_children)
    checked = check_requests(requests, callbacks=callbacks or CallbackRules())
    if not checked:
        return []
    now = clock()
    since = now - dedup_window if dedup_window > timedelta(0) else None
    with db.read() as session:
        planned = plan_requests(
            session.connection(),
            checked,
            since=since,
            depth=depth,
            max_children=children,
            mode=mode,
        )
    made = {plan.job_id for plan in planned if plan.new}
    return [
        Preview(
            url=plan.request.url,
            job_id=None if plan.job_id in made else plan.job_id,
            state=None if plan.job_id in made else plan.state,
            duplicate=not plan.new,
            repeated=plan.repeated,
        )
        for plan in planned
    ]
