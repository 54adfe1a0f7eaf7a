"""One scan now, stored nowhere: for trying a URL or a policy file by hand (``scanbox scan``).

It runs the attempt a worker runs, minus the database: the runner it is given (a fetcher
container under the same spec and limits), the same fetcher options, the same validation of
the output and the same rules and policy; the outcome is what the job's state would be after
one attempt, with its result or its error. Nothing claims, records or retries it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from statemachine.states import State
from worker.analysis.browser import with_browser_reasons
from worker.analysis.policy import Policy
from worker.analysis.report import FetchReport, parse_report
from worker.analysis.rules import Judgement, judge
from worker.containers.runner import ContainerRun, Runner, RunRequest
from worker.errors import FetchTimedOut, ScanError, ScanTimedOut
from worker.scan.browser import BrowserMode, Capture, read_browser_output
from worker.scan.scanner import FetcherArgs
from worker.urls import validate_url


@dataclass(frozen=True, kw_only=True)
class OneScan:
    """What one scan found (``state`` COMPLETED), or why it did not (FAILED, TIMED_OUT)."""

    #: The id its container was named and labelled with (no job has it).
    scan_id: str
    url: str
    state: State
    run: ContainerRun | None = None
    report: FetchReport | None = None
    judgement: Judgement | None = None
    error: ScanError | None = None
    #: A browser scan's capture (its artifacts are in the mode's store).
    capture: Capture | None = None


def scan_once(
    url: str,
    *,
    runner: Runner,
    fetch: FetcherArgs,
    policy: Policy,
    worker_id: str,
    browser: BrowserMode | None = None,
) -> OneScan:
    """Scan ``url`` once with ``runner`` (or in ``browser`` mode); ``InvalidURL`` for a URL
    ``submit`` would refuse."""
    checked = validate_url(url)
    scan_id = uuid.uuid4().hex
    capture = None
    try:
        run = (browser.runner if browser else runner).run(
            RunRequest(
                job_id=scan_id,
                attempt=1,
                worker_id=worker_id,
                url=checked,
                options=browser.options() if browser else fetch.options(),
            )
        )
        if browser is None:
            report = parse_report(run.stdout)
        else:
            capture = read_browser_output(browser, run)
            report = capture.report
        if report.error is not None and report.error.code == "timeout":
            raise FetchTimedOut(report.error.message)
        judgement = judge(report, policy=policy)
        if capture is not None:
            judgement = with_browser_reasons(judgement, capture.reasons)
    except ScanError as error:
        state = State.TIMED_OUT if isinstance(error, ScanTimedOut) else State.FAILED
        return OneScan(scan_id=scan_id, url=checked, state=state, error=error)
    return OneScan(
        scan_id=scan_id,
        url=checked,
        state=State.COMPLETED,
        run=run,
        report=report,
        judgement=judgement,
        capture=capture,
    )
