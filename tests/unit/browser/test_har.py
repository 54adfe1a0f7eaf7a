"""The HAR 1.2 of the request log, bounded in bytes."""

from __future__ import annotations

import json

from fetcher.browser.har import build_har
from fetcher.browser.requestlog import RequestRecord


def record(index: int, url: str, **fields: object) -> RequestRecord:
    base = RequestRecord(
        index=index,
        url=url,
        method="GET",
        resource_type="document",
        frame=0,
        page=0,
        navigation=True,
        redirected_from=None,
        started_s=0.5,
    )
    for name, value in fields.items():
        setattr(base, name, value)
    return base


def test_entries_have_what_har_12_requires() -> None:
    records = [
        record(
            0,
            "http://a.test/?q=1&empty=",
            status=302,
            status_text="Found",
            response_headers=[("Location", "/next")],
            response_s=0.6,
            finished_s=0.7,
            request_headers=[("user-agent", "x")],
        ),
        record(
            1,
            "http://a.test/next",
            status=200,
            mime_type="text/html",
            size=10,
            transfer_size=12,
            sha256="ab" * 32,
            response_s=0.8,
            finished_s=1.0,
        ),
    ]

    data, left_out = build_har(records, started_at=1_700_000_000.0, title="t", max_bytes=10**6)

    log = json.loads(data)["log"]
    assert left_out == 0
    assert log["version"] == "1.2"
    assert log["pages"][0]["title"] == "t"
    first, second = log["entries"]
    assert first["startedDateTime"] == "2023-11-14T22:13:20.500Z"
    assert first["request"]["queryString"] == [
        {"name": "q", "value": "1"},
        {"name": "empty", "value": ""},
    ]
    assert first["response"]["redirectURL"] == "/next"
    assert first["timings"] == {"send": 0, "wait": 100.0, "receive": 100.0}
    assert second["response"]["content"] == {
        "size": 10,
        "mimeType": "text/html",
        "_sha256": "ab" * 32,
    }
    assert second["response"]["bodySize"] == 12
    for entry in log["entries"]:
        assert {"startedDateTime", "time", "request", "response", "cache", "timings"} <= set(entry)


def test_entries_past_the_byte_limit_are_left_out_and_counted() -> None:
    records = [record(i, f"http://a.test/{i}/" + "x" * 500) for i in range(100)]

    data, left_out = build_har(records, started_at=0.0, title=None, max_bytes=20_000)

    assert len(data) <= 20_000
    log = json.loads(data)["log"]
    assert left_out == 100 - len(log["entries"])
    assert log["_entriesLeftOut"] == left_out
    assert left_out > 0
