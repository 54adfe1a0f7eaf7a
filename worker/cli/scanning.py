"""``scanbox scan URL``: one scan now, in a fetcher container, printed and stored nowhere."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from worker.cli.base import (
    EXIT_FAILURE,
    JsonOption,
    app,
    errors_reported,
    fail,
    load_settings,
    stdout,
)

#: Appended to the deployment's name on a one-off scan's container, so that no worker's reaper
#: takes it for an orphan of its own (its runner removes it on every path).
ONE_OFF_DEPLOYMENT_SUFFIX = ".scan"


@app.command()
def scan(
    url: Annotated[str, typer.Argument(help="The URL to scan (http or https).")],
    *,
    mode: Annotated[str, typer.Option(help="http (the fetcher) or browser (Chromium).")] = "http",
    artifact_dir: Annotated[
        Path | None,
        typer.Option(
            help="With --mode browser: keep the screenshot, DOM and HAR here, by sha256 "
            "[default: kept nowhere]."
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Scan one URL now and print what was found; no database, no Redis, nothing stored.

    The scan is the one a worker runs: a fetcher (or browser) container under the same limits
    and options (FETCHER_*, CONTAINER_*, BROWSER_*), through the egress proxy, the same checks
    of its output, the same rules and POLICY_FILE. Exit status 1 when it did not complete.
    """
    from dataclasses import replace
    from datetime import UTC, datetime

    from statemachine.states import State
    from worker.app.clients import new_process_id, open_docker
    from worker.app.containers import browser_mode, container_spec, fetcher_args
    from worker.app.egress import egress_running, proxy_sessions
    from worker.app.services import analysis_policy
    from worker.cli import views
    from worker.containers.runner import DockerRunner
    from worker.scan.claim import Claim
    from worker.scan.once import scan_once
    from worker.scan.record import result_values
    from worker.store.models import ScanJob, ScanResult
    from worker.submit.batch import check_mode

    settings = load_settings()
    with errors_reported(), tempfile.TemporaryDirectory(prefix="scanbox-scan-") as scratch:
        check_mode(mode)
        client = open_docker()
        try:
            spec = replace(
                container_spec(settings),
                deployment=settings.deployment + ONE_OFF_DEPLOYMENT_SUFFIX,
            )
            browser = None
            if mode == "browser":
                browser = browser_mode(
                    settings.model_copy(update={"artifact_dir": str(artifact_dir or scratch)}),
                    worker_id="scan",
                    docker_client=client,
                )
                if browser is None:
                    fail(
                        "browser scans go out only through the egress proxy: FETCHER_NETWORK=egress"
                    )
            with egress_running(settings, quiet=True):
                outcome = scan_once(
                    url,
                    runner=DockerRunner(client=client, spec=spec, egress=proxy_sessions(settings)),
                    fetch=fetcher_args(settings),
                    policy=analysis_policy(settings)(),
                    worker_id=f"scan.{new_process_id()}",
                    browser=browser,
                )
        finally:
            client.close()
        now = datetime.now(UTC)
        result = None
        if outcome.run and outcome.report and outcome.judgement:
            claim = Claim(
                job_id=outcome.scan_id,
                url=outcome.url,
                attempt=1,
                max_attempts=1,
                priority="normal",
                version=0,
            )
            result = ScanResult(
                **result_values(
                    claim=claim,
                    run=outcome.run,
                    report=outcome.report,
                    judgement=outcome.judgement,
                    previous=None,
                    now=now,
                    capture=outcome.capture,
                )
            )
        error = outcome.error
        if json_output:
            views.print_json(
                {
                    "url": outcome.url,
                    "state": outcome.state.value,
                    "error": None
                    if error is None
                    else {"code": error.stored_code, "message": error.message},
                    "result": views.result_dict(result, full=True),
                }
            )
        else:
            job = ScanJob(
                id=outcome.scan_id,
                url=outcome.url,
                state=outcome.state,
                attempts=1,
                max_attempts=1,
                created_at=now,
                updated_at=now,
                error_code=None if error is None else error.stored_code,
                error_message=None if error is None else error.message,
                **(error.job_columns() if error is not None else {}),
            )
            stdout.print(views.job_panel(job, result, None, title="scan (not stored)"))
        if outcome.state is not State.COMPLETED:
            raise typer.Exit(EXIT_FAILURE)
