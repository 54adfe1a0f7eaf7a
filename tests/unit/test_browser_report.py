"""A browser report as the worker reads it: checked, seen as a fetch report, judged."""

from __future__ import annotations

from typing import Any

import pytest

from worker.analysis.browser import (
    as_fetch_report,
    browser_reasons,
    parse_browser_report,
    with_browser_reasons,
)
from worker.analysis.rules import Judgement, Reason, judge
from worker.errors import InvalidOutput

SHA = "a" * 64


def report(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "report": "scanbox.browser",
        "version": 1,
        "url": "http://a.test/",
        "final_url": "http://b.test/landed",
        "status": 200,
        "title": "landed",
        "error": None,
        "requests": [
            {"url": "http://a.test/", "method": "GET", "resource_type": "document",
             "status": 200, "media_type": "text/html", "size": 10, "sha256": SHA,
             "failure": None},
            {"url": "http://b.test/landed", "method": "GET", "resource_type": "document",
             "status": 200, "media_type": "text/html", "size": 20, "sha256": "b" * 64,
             "failure": None},
            {"url": "http://cdn.test/x.js", "method": "GET", "resource_type": "script",
             "status": 200, "media_type": "text/javascript", "size": 5, "sha256": None,
             "failure": None},
        ],
        "redirects": [
            {"url": "http://a.test/", "kind": "initial", "status": None, "at_ms": 0.0},
            {"url": "http://b.test/landed", "kind": "script", "status": None, "at_ms": 2100.0},
        ],
        "downloads": [],
        "frames": [],
        "timings": {"capture_ms": 900.0},
        "unread": {"kept": "as data"},
    }  # fmt: skip
    return base | changes


EGRESS = [
    {"host": "b.test", "port": 80, "connected": "192.0.2.7", "decision": "allowed"},
    {"host": "evil.test", "port": 22, "connected": None, "decision": "refused"},
]


def test_the_final_document_and_the_proxys_peer_make_the_fetch_report() -> None:
    fetch = as_fetch_report(parse_browser_report(report()), egress=EGRESS)
    assert (fetch.requested_url, fetch.final_url, fetch.status_code) == (
        "http://a.test/",
        "http://b.test/landed",
        200,
    )
    assert fetch.body is not None
    assert (fetch.body.size, fetch.body.sha256) == (20, "b" * 64)
    assert fetch.peer is not None
    assert (fetch.peer.address, fetch.peer.port) == ("192.0.2.7", 80)
    assert fetch.observations.script_redirects == ["http://b.test/landed"]
    assert fetch.observations.scripts.external_hosts == ["cdn.test"]
    # What the page led to, for child scans: the first request to each other host.
    assert fetch.observations.links.targets == ["http://a.test/", "http://cdn.test/x.js"]


def test_what_only_a_browser_sees_is_a_reason_each() -> None:
    browser = parse_browser_report(
        report(downloads=[{"url": "http://b.test/x.exe", "name": "x.exe", "size": 3}])
    )
    rules = {reason.rule for reason in browser_reasons(browser, egress=EGRESS)}
    assert rules == {"delayed_script_redirect", "browser_download", "egress_refused"}
    judged = with_browser_reasons(
        judge(as_fetch_report(browser)), browser_reasons(browser, egress=EGRESS)
    )
    assert judged.verdict in ("suspicious", "malicious")
    assert judged.score == min(100, sum(reason.score for reason in judged.reasons))


def test_a_policy_decision_is_not_changed_by_browser_reasons() -> None:
    allowed = Judgement(
        verdict="benign",
        score=0,
        reasons=(Reason(rule="allowed_domain", score=0, message="every host is allowed"),),
    )
    extra = [Reason(rule="browser_download", score=30, message="a download")]
    assert with_browser_reasons(allowed, extra) == allowed


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"report": "scanbox.fetch"}, "report"),
        ({"status": 1e400}, "status"),
        ({"requests": [{"url": "x"}]}, "requests.0"),
        ({"redirects": [{"url": "x", "kind": "script", "status": None, "at_ms": -1}]}, "at_ms"),
    ],
)
def test_a_report_that_lies_about_what_is_read_is_invalid_output(
    changes: dict[str, Any], where: str
) -> None:
    with pytest.raises(InvalidOutput, match=where):
        parse_browser_report(report(**changes))
