"""Browser scans: the attempt of a ``--mode browser`` job, up to its report and artifacts.

The job's URL is captured in the browser image (``fetcher.browser``: Chromium driven by
Playwright), in a container with the fetcher's sandbox, the browser's own limits and no
network of its own: like a fetcher, it goes out only through its egress session. Its output
is one report line and the artifacts it declares (``fetcher.browser.stream``), read with
every size and hash checked; the artifacts go to the artifact store, by sha256, and the
report is checked (``worker.analysis.browser``) and seen as a fetch report, so that the
rest of the attempt (gate, rules, result, child scans) is the same as for the fetcher.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fetcher.browser.stream import BadStream, read_capture
from worker.analysis.browser import (
    BrowserReport,
    as_fetch_report,
    browser_reasons,
    parse_browser_report,
)
from worker.analysis.report import FetchReport
from worker.analysis.rules import Reason
from worker.containers.runner import ContainerRun, Runner
from worker.containers.spec import Limits
from worker.errors import InvalidOutput
from worker.store.artifacts import ArtifactStore

#: Milliseconds of the container's deadline kept back from the capture's own, so that the
#: capture ends (and reports) before its container is killed.
DEADLINE_MARGIN_MS = 5_000


@dataclass(frozen=True, kw_only=True)
class BrowserMode:
    """How this worker runs browser scans: the runner, the capture's options, the store."""

    runner: Runner
    limits: Limits
    artifacts: ArtifactStore
    #: Longest report line and most artifact bytes accepted from a capture.
    max_report_bytes: int = 8 * 1024 * 1024
    max_artifact_bytes: int = 64 * 1024 * 1024
    extra_options: Sequence[str] = field(default_factory=tuple)

    def options(self) -> list[str]:
        """The capture's options: its deadline inside the container's, then any others."""
        deadline = max(self.limits.timeout_ms - DEADLINE_MARGIN_MS, 1000)
        return ["--deadline-ms", str(deadline), *self.extra_options]


@dataclass(frozen=True, kw_only=True)
class Capture:
    """What one browser container gave: the checked report, its fetch-report view, the
    whole report as stored, and the artifacts as the result names them."""

    browser: BrowserReport
    report: FetchReport
    stored: dict[str, Any]
    artifacts: list[dict[str, Any]]
    #: What only a browser sees, as reasons for the verdict (``worker.analysis.browser``).
    reasons: list[Reason]


def read_browser_output(mode: BrowserMode, run: ContainerRun) -> Capture:
    """Check ``run``'s output, store its artifacts, and return the capture; ``InvalidOutput``
    for output that is not one report and the artifacts it declares."""
    try:
        data, blobs = read_capture(
            io.BytesIO(run.stdout),
            max_report_bytes=mode.max_report_bytes,
            max_artifact_bytes=mode.max_artifact_bytes,
        )
    except BadStream as error:
        raise InvalidOutput(f"browser output is not a capture: {error}") from None
    browser = parse_browser_report(data)
    egress = None if run.egress is None else list(run.egress)
    declared = {item["name"]: item for item in data["artifacts"]}
    artifacts = []
    for name, blob in blobs.items():
        key = mode.artifacts.put(blob)
        artifacts.append(
            {
                "name": name,
                "media_type": declared[name]["media_type"],
                "size": len(blob),
                "sha256": key,
            }
        )
    return Capture(
        browser=browser,
        report=as_fetch_report(browser, egress=egress),
        stored=data,
        artifacts=artifacts,
        reasons=browser_reasons(browser, egress=egress),
    )
