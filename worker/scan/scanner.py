"""One scan attempt from claim to terminal state: the body of the RQ task."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from statemachine.states import State
from statemachine.tables import BROWSER_MODE
from worker.analysis.browser import with_browser_reasons
from worker.analysis.policy import Policy
from worker.analysis.report import FetchReport, parse_report
from worker.analysis.rules import Judgement, judge
from worker.clock import Clock, utcnow
from worker.containers.engine import EngineWatch
from worker.containers.runner import ContainerRun, Runner, RunRequest, fetcher_command
from worker.containers.spec import Limits
from worker.errors import (
    FetchTimedOut,
    LeaseLost,
    ModeUnavailable,
    ScanError,
    WorkerShuttingDown,
)
from worker.logs import get_logger
from worker.queue.dispatch import Dispatcher
from worker.scan.browser import BrowserMode, Capture, read_browser_output
from worker.scan.claim import Claim, claim_job
from worker.scan.conditional import load_previous
from worker.scan.gate import HostGate
from worker.scan.lease import LeaseKeeper
from worker.scan.outcome import OutcomePolicy, settle
from worker.scan.record import complete, to_analyzing
from worker.scan.shutdown import Shutdown
from worker.store.database import Database
from worker.store.jobs import read_due_job
from worker.submit.children import ChildScans

#: Default length of a claim's lease; the running worker renews it every third.
DEFAULT_LEASE_TTL = timedelta(seconds=30)


@dataclass(frozen=True, kw_only=True)
class FetcherArgs:
    """The fetcher's command-line options that come from settings (``fetcher.options`` parses
    them inside the container)."""

    timeout_ms: int
    max_body_bytes: int
    allowed_ports: str
    allow_networks: Sequence[str] = ()

    def options(self, *, conditions: Sequence[str] = ()) -> list[str]:
        """The options, then ``conditions``: those of a conditional request (``conditional``)."""
        options = [
            "--timeout-ms",
            str(self.timeout_ms),
            "--max-body-bytes",
            str(self.max_body_bytes),
            "--allowed-ports",
            self.allowed_ports,
        ]
        for network in self.allow_networks:
            options += ["--allow-network", network]
        return [*options, *conditions]

    def command(self, url: str) -> list[str]:
        """A whole fetcher command for ``url`` (for a container run outside a scan)."""
        return fetcher_command(self.options(), url)


class Scanner:
    """Runs attempts of scan jobs: claim, container, validate, judge, record."""

    def __init__(
        self,
        *,
        db: Database,
        runner: Runner,
        dispatcher: Dispatcher,
        worker_id: str,
        limits: Limits,
        fetch: FetcherArgs,
        outcomes: OutcomePolicy,
        policy: Callable[[], Policy] = Policy,
        lease_ttl: timedelta = DEFAULT_LEASE_TTL,
        shutdown: Shutdown | None = None,
        gate: HostGate | None = None,
        conditional: bool = False,
        engine: EngineWatch | None = None,
        children: ChildScans | None = None,
        browser: BrowserMode | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.runner = runner
        self.dispatcher = dispatcher
        self.worker_id = worker_id
        self.limits = limits
        self.fetch = fetch
        self.outcomes = outcomes
        self.policy = policy
        self.lease_ttl = lease_ttl
        self.shutdown = shutdown
        #: Asked before each claim whether the job's host may be fetched now.
        self.gate = gate
        #: Whether re-scans are conditional on the URL's last ETag / Last-Modified.
        self.conditional = conditional
        #: Pauses claims while the Docker engine is away (``worker.containers.engine``).
        self.engine = engine
        #: Makes the child jobs of completed scans of trees (``worker.submit.children``).
        self.children = children
        #: Runs the attempts of ``--mode browser`` jobs (``worker.scan.browser``).
        self.browser = browser
        self.clock = clock

    def scan(self, job_id: str) -> State | None:
        """Run one attempt of ``job_id``; return the state it ended in (``None``: not ours)."""
        log = get_logger(job_id=job_id, worker=self.worker_id)
        if self.engine is not None and not self.engine.ready():
            self._wake_later(job_id, delay_s=self.engine.max_pause_s)
            return None
        if self.gate is not None and not self.gate.admit(job_id):
            return None
        claim = claim_job(
            self.db,
            job_id=job_id,
            worker_id=self.worker_id,
            limits=self.limits,
            lease=self.lease_ttl,
            now=self.clock(),
            browser_limits=None if self.browser is None else self.browser.limits,
        )
        if claim is None:
            log.debug("claim_skipped", reason="not queued, not due, or claimed by another worker")
            return None
        log = log.bind(attempt=claim.attempt)
        log.info("job_claimed", state=State.FETCHING.value, url=claim.url)
        keeper = LeaseKeeper(
            db=self.db, job_id=job_id, version=claim.version, ttl=self.lease_ttl, clock=self.clock
        )
        with keeper:
            outcome = self._attempt(claim, keeper)
        if self.engine is not None and isinstance(outcome, ScanError) and outcome.engine_fault:
            self.engine.trip()
        if isinstance(outcome, ScanError):
            return settle(
                outcome,
                claim=claim,
                source=keeper.state,
                version=keeper.version,
                db=self.db,
                dispatcher=self.dispatcher,
                policy=self.outcomes,
                actor=self.worker_id,
                now=self.clock(),
            ).state
        if outcome is None:
            log.info("outcome_lost", reason="the job moved while this worker ran it")
            return None
        run, report, judgement = outcome
        log.info(
            "job_completed",
            state=State.COMPLETED.value,
            verdict=judgement.verdict,
            score=judgement.score,
            status_code=report.status_code,
            duration_ms=round(run.duration_ms, 1),
        )
        return State.COMPLETED

    def _wake_later(self, job_id: str, *, delay_s: float) -> None:
        """Dispatch a due queued job again in ``delay_s`` without claiming it or writing to it."""
        row = read_due_job(self.db, job_id, now=self.clock())
        if row is None:
            return
        self.dispatcher.dispatch(
            [job_id], priority=row.priority, attempt=row.attempts + 1, delay_s=delay_s
        )
        get_logger(job_id=job_id, worker=self.worker_id).info(
            "job_put_back", reason="the Docker engine is not answering", delay_s=delay_s
        )

    def _attempt(
        self, claim: Claim, keeper: LeaseKeeper
    ) -> tuple[ContainerRun, FetchReport, Judgement] | ScanError | None:
        """Run the container, validate, judge and record; a ScanError is returned to settle."""

        def interruption() -> ScanError | None:
            reason = self.shutdown.interruption() if self.shutdown else None
            if reason is not None:
                return WorkerShuttingDown(reason)
            if keeper.lost:
                return LeaseLost("the claim was taken back while the container ran")
            return None

        browsing = claim.mode == BROWSER_MODE
        previous = load_previous(self.db, claim.url) if self.conditional and not browsing else None
        capture: Capture | None = None
        try:
            if browsing:
                if self.browser is None:
                    raise ModeUnavailable("this worker runs no browser scans")
                run = self.browser.runner.run(
                    RunRequest(
                        job_id=claim.job_id,
                        attempt=claim.attempt,
                        worker_id=self.worker_id,
                        url=claim.url,
                        options=self.browser.options(),
                        interruption=interruption,
                    )
                )
                capture = read_browser_output(self.browser, run)
                report = capture.report
            else:
                run = self.runner.run(
                    RunRequest(
                        job_id=claim.job_id,
                        attempt=claim.attempt,
                        worker_id=self.worker_id,
                        url=claim.url,
                        options=self.fetch.options(
                            conditions=previous.fetch_args() if previous else ()
                        ),
                        interruption=interruption,
                    )
                )
                report = parse_report(run.stdout)
            if self.gate is not None:
                self.gate.observe(claim.url, report)
            if report.error is not None and report.error.code == "timeout":
                raise FetchTimedOut(report.error.message)
            analyzing = to_analyzing(
                self.db,
                claim=claim,
                version=keeper.version,
                run=run,
                actor=self.worker_id,
                now=self.clock(),
            )
            if analyzing is None:
                return None
            keeper.moved(state=State.ANALYZING, version=analyzing)
            if previous is not None and report.not_modified:
                judgement = previous.judgement()
            else:
                judgement = judge(report, policy=self.policy())
            if capture is not None:
                judgement = with_browser_reasons(judgement, capture.reasons)
            completed = complete(
                self.db,
                claim=claim,
                version=analyzing,
                run=run,
                report=report,
                judgement=judgement,
                previous=previous,
                keep_validators=self.conditional,
                actor=self.worker_id,
                clock=self.clock,
                children=self.children,
                capture=capture,
            )
            if completed is None:
                return None
            if self.children is not None:
                self.children.dispatch(completed, parent_id=claim.job_id)
        except ScanError as error:
            return error
        return run, report, judgement
