"""Test doubles and builders shared by unit and integration tests."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from worker.containers.runner import ContainerRun, RunRequest

SHA_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

_BASE_REPORT: dict[str, Any] = {
    "schema": 1,
    "requested_url": "http://127.0.0.1:8080/",
    "final_url": "http://127.0.0.1:8080/",
    "status_code": 200,
    "reason": "OK",
    "http_version": "HTTP/1.1",
    "not_modified": False,
    "redirects": [],
    "headers": {"content-type": "text/html; charset=utf-8"},
    "content_type": "text/html",
    "charset": "utf-8",
    "body": {"size": 0, "truncated": False, "sha256": SHA_EMPTY, "encoding": None},
    "title": "A page",
    "peer": {"address": "127.0.0.1", "port": 8080},
    "tls": None,
    "timings": {"total_ms": 5.0, "startup_ms": 20.0, "connect_ms": 0.3, "ttfb_ms": 1.2},
    "attempts": 1,
    "error": None,
    "observations": {
        "forms": [],
        "scripts": {"inline_count": 0, "external_count": 0, "external_hosts": []},
        "iframes": {"count": 0, "hosts": []},
        "meta_refresh": None,
        "script_redirects": [],
        "download": {"attachment": False, "filename": None, "executable": False},
        "mixed_content": [],
        "host": {"ip_literal": True, "punycode": False, "unicode": None},
        "links": {"count": 0, "external_hosts": [], "targets": []},
    },
}


def make_report(**changes: Any) -> dict[str, Any]:
    """A valid fetcher report; ``changes`` replace top-level keys, ``observations__x`` nested."""
    report = copy.deepcopy(_BASE_REPORT)
    for key, value in changes.items():
        if key.startswith("observations__"):
            report["observations"][key.removeprefix("observations__")] = value
        else:
            report[key] = value
    return report


def report_bytes(**changes: Any) -> bytes:
    """``make_report`` as the fetcher would print it."""
    return (json.dumps(make_report(**changes)) + "\n").encode()


Behaviour = Callable[[RunRequest], ContainerRun]


@dataclass
class FakeRunner:
    """A ``Runner`` that plays scripted outcomes: each call pops the next behaviour."""

    behaviours: list[Behaviour | BaseException | bytes] = field(default_factory=list)
    requests: list[RunRequest] = field(default_factory=list)

    def run(self, request: RunRequest) -> ContainerRun:
        self.requests.append(request)
        outcome = self.behaviours.pop(0) if self.behaviours else report_bytes()
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, bytes):
            return ContainerRun(container_id="c" * 64, stdout=outcome, duration_ms=12.5)
        return outcome(request)

    def close(self) -> None:
        """Nothing to let go of."""


@dataclass
class FakeDispatcher:
    """A ``Dispatcher`` that records what it was asked to dispatch."""

    calls: list[tuple[tuple[str, ...], str, float]] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    fail_with: BaseException | None = None

    def dispatch(
        self, job_ids: Sequence[str], *, priority: str, attempt: int = 1, delay_s: float = 0
    ) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.calls.append((tuple(job_ids), priority, delay_s))
        self.attempts.append(attempt)

    @property
    def dispatched(self) -> list[str]:
        """Every job id dispatched, in order."""
        return [job_id for ids, _, _ in self.calls for job_id in ids]
