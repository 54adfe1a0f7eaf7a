"""The watchdog: the process ends soon after its deadline, with exactly one report."""

from __future__ import annotations

import io
import threading

from fetcher.browser.stream import Artifact
from fetcher.browser.watchdog import Output, Watchdog

LATE = {"report": "scanbox.browser", "error": {"code": "timeout"}, "artifacts": []}


def test_output_is_written_once() -> None:
    stream = io.BytesIO()
    output = Output(stream)
    artifact = Artifact(name="har", media_type="application/json", data=b"{}")

    assert output.write(
        report={"report": "scanbox.browser", "artifacts": [artifact.declaration()]},
        artifacts=[artifact],
    )
    assert not output.write(report=LATE, artifacts=())
    assert stream.getvalue().count(b"\n") == 1
    assert stream.getvalue().endswith(b"{}")


def test_a_watchdog_that_fires_writes_the_late_report_and_exits_0() -> None:
    stream = io.BytesIO()
    exited: list[int] = []
    done = threading.Event()

    def exit_process(status: int) -> None:
        exited.append(status)
        done.set()

    watchdog = Watchdog(output=Output(stream), late_report=lambda: LATE, exit_process=exit_process)
    watchdog.arm(seconds=0)

    assert done.wait(10)
    assert exited == [0]
    assert b'"timeout"' in stream.getvalue()


def test_a_watchdog_after_the_report_only_ends_the_process() -> None:
    stream = io.BytesIO()
    output = Output(stream)
    output.write(report={"report": "scanbox.browser", "artifacts": []}, artifacts=())
    exited: list[int] = []
    done = threading.Event()

    def exit_process(status: int) -> None:
        exited.append(status)
        done.set()

    Watchdog(output=output, late_report=lambda: LATE, exit_process=exit_process).arm(seconds=0)

    assert done.wait(10)
    assert exited == [0]
    assert b"timeout" not in stream.getvalue()


def test_a_disarmed_watchdog_never_fires() -> None:
    watchdog = Watchdog(
        output=Output(io.BytesIO()), late_report=lambda: LATE, exit_process=lambda status: None
    )
    watchdog.arm(seconds=60)
    watchdog.disarm()

    assert not watchdog.fired.is_set()
