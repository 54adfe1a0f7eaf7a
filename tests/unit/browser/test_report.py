"""The report: strict, bounded, and cut by requests when it would be too long."""

from __future__ import annotations

import pytest

from fetcher.browser import report as report_module
from fetcher.browser.report import build_report, clean, media_type, request_entry
from fetcher.browser.requestlog import RequestRecord
from fetcher.browser.stream import encode_report


def record(index: int, url: str) -> RequestRecord:
    return RequestRecord(
        index=index,
        url=url,
        method="GET",
        resource_type="script",
        frame=0,
        page=0,
        navigation=False,
        redirected_from=None,
        started_s=0.25,
    )


def test_lone_surrogates_and_non_finite_numbers_never_reach_the_report() -> None:
    cleaned = clean({"title": "a\ud800b", "n": [float("nan"), float("inf"), 1.5]})

    assert cleaned == {"title": "a\ufffdb", "n": [None, None, 1.5]}
    encode_report(cleaned)


def test_strings_are_cut() -> None:
    assert len(clean("x" * 100_000)) == report_module.MAX_STRING_CHARS


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("text/html; charset=utf-8", "text/html"),
        ("IMAGE/PNG", "image/png"),
        ("text/html\r\nX-Evil: 1", "application/octet-stream"),
        ("", "application/octet-stream"),
        (None, "application/octet-stream"),
        ("a" * 100 + "/b", "application/octet-stream"),
    ],
)
def test_media_types_are_bare_and_well_formed(header: str | None, expected: str) -> None:
    assert media_type(header) == expected


def test_a_request_entry_carries_its_times_in_milliseconds() -> None:
    entry = request_entry(record(3, "http://a.test/app.js"))

    assert entry["index"] == 3
    assert entry["started_ms"] == 250.0
    assert entry["finished_ms"] is None


def test_a_report_too_long_for_its_line_loses_requests_from_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(report_module, "MAX_REPORT_BYTES", 50_000)
    records = [record(i, f"http://a.test/{i}/" + "x" * 1000) for i in range(200)]

    report = build_report(
        url="http://a.test/",
        fields={},
        requests=records,
        artifacts=[],
        limits={"requests_dropped": 0},
    )

    assert len(encode_report(report)) <= 50_000
    kept = len(report["requests"])
    assert 0 < kept < 200
    assert report["limits"]["requests_cut"] == 200 - kept
    assert [entry["index"] for entry in report["requests"]] == list(range(kept))
    assert report["report"] == "scanbox.browser"
    assert report["version"] == 1
