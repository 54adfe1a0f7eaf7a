"""Command line: ``python3 -m fetcher.browser --proxy-socket PATH (URL | --url-stdin)``.

Starts the relay and Chromium, then captures the URL (with ``--url-stdin``, the first line of
stdin, read once Chromium is ready: a container can wait warm for its URL). stdout carries one
JSON report line and then the artifacts it declares (see :mod:`fetcher.browser.stream`).

Exit status 0 means a report was written, whatever it says (blocked, timed out, a 404...);
2 means bad arguments, with one line on stderr and nothing on stdout; 1 means Chromium could
not be started or the program failed before it could report, with one line on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from playwright.async_api import Error, async_playwright

from fetcher.browser.assemble import assemble
from fetcher.browser.capture import Recorder, capture
from fetcher.browser.chromium import launch, new_context
from fetcher.browser.errors import TIMEOUT_CODE
from fetcher.browser.options import (
    MAX_STDIN_URL_BYTES,
    PROG,
    Invocation,
    parse_invocation,
    read_url_line,
)
from fetcher.browser.relay import Relay
from fetcher.browser.report import build_report
from fetcher.browser.watchdog import WATCHDOG_GRACE_S, Output, Watchdog
from fetcher.deadline import Deadline
from fetcher.errors import BadUrl, Blocked
from fetcher.ports import parse_port_policy
from fetcher.urls import parse_target

#: Longest wait for Chromium and the driver to close once the report is written.
CLOSE_TIMEOUT_S = 3.0
#: Exit status when the program could not report (Chromium did not start, for one).
FAILURE_EXIT_STATUS = 1


def main(argv: Sequence[str] | None = None) -> int:
    """Capture the URL the command line names and write the report and artifacts."""
    invocation = parse_invocation(sys.argv[1:] if argv is None else argv)
    output = Output(sys.stdout.buffer)
    try:
        return asyncio.run(run(invocation, output=output, stdin=sys.stdin.buffer))
    except Error as error:
        sys.stderr.write(f"{PROG}: error: {error.message.splitlines()[0][:500]}\n")
        return FAILURE_EXIT_STATUS


def failure_report(url: str, *, code: str, message: str) -> dict[str, Any]:
    """The report of a capture that found nothing: ``code`` says why."""
    fields: dict[str, Any] = {
        "final_url": None,
        "status": None,
        "loaded": False,
        "complete": False,
        "error": {"code": code, "message": message},
        "redirects": [],
        "console": [],
        "downloads": [],
        "frames": [],
        "cookies": [],
    }
    return build_report(url=url, fields=fields, requests=[], artifacts=[], limits={})


def checked_url(url: str) -> tuple[str, dict[str, str] | None]:
    """The URL to navigate to, or an error when it is not an http(s) URL with a host."""
    try:
        return parse_target(url, allowed_ports=parse_port_policy("any")).url, None
    except (BadUrl, Blocked) as error:
        return url, {"code": error.code, "message": error.message}


async def run(
    invocation: Invocation,
    *,
    output: Output,
    stdin: BinaryIO,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
) -> int:
    """Start everything, capture one URL, write the report; the exit status."""
    options = invocation.options
    began = clock()
    relay = Relay(socket_path=options.proxy_socket, max_connections=options.max_connections)
    await relay.start()
    watchdog: Watchdog | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="scanbox-downloads-") as downloads:
            async with async_playwright() as playwright:
                browser = await launch(
                    playwright, options=options, proxy_url=relay.proxy_url, downloads=downloads
                )
                context = await new_context(browser, options=options)
                page = await context.new_page()
                recorder = Recorder(
                    context=context, options=options, downloads_dir=Path(downloads), clock=clock
                )
                await recorder.attach(page)
                ready = clock()
                url = invocation.url
                if url is None:
                    url = await _stdin_url(stdin)
                if url is None:
                    output.write(
                        report=failure_report(
                            "", code=BadUrl.code, message="no usable URL on standard input"
                        ),
                        artifacts=(),
                    )
                    return 0
                have_url = clock()
                deadline = Deadline(clock=clock, seconds=options.deadline_ms / 1000)
                late_url = url
                watchdog = Watchdog(
                    output=output,
                    late_report=lambda: failure_report(
                        late_url,
                        code=TIMEOUT_CODE,
                        message="the capture did not end by its deadline",
                    ),
                )
                watchdog.arm(seconds=options.deadline_ms / 1000 + WATCHDOG_GRACE_S)
                target, bad = checked_url(url)
                if bad is not None:
                    output.write(
                        report=failure_report(url, code=bad["code"], message=bad["message"]),
                        artifacts=(),
                    )
                    return 0
                started_at = wall_clock()
                findings = await capture(
                    page=page, url=target, recorder=recorder, options=options, deadline=deadline
                )
                report, artifacts = assemble(
                    findings=findings,
                    recorder=recorder,
                    relay=relay,
                    options=options,
                    started_at=started_at,
                    timings={
                        "launch_ms": round((ready - began) * 1000, 1),
                        "url_wait_ms": round((have_url - ready) * 1000, 1),
                    },
                )
                output.write(report=report, artifacts=artifacts)
                with contextlib.suppress(TimeoutError, Error):
                    await asyncio.wait_for(browser.close(), CLOSE_TIMEOUT_S)
    finally:
        await relay.close()
        if watchdog is not None:
            watchdog.disarm()
    return 0


async def _stdin_url(stdin: BinaryIO) -> str | None:
    line = await asyncio.to_thread(stdin.readline, MAX_STDIN_URL_BYTES + 1)
    return read_url_line(line)


if __name__ == "__main__":
    sys.exit(main())
