from __future__ import annotations

import json

import pytest

from tests.support import make_report, report_bytes
from worker.analysis.report import parse_report
from worker.errors import InvalidOutput


def test_valid_report_parses() -> None:
    report = parse_report(report_bytes(title="Hello"))
    assert report.title == "Hello"
    assert report.status_code == 200
    assert report.body is not None
    assert report.body.size == 0


@pytest.mark.parametrize(
    ("stdout", "fragment"),
    [
        (b"", "printed nothing"),
        (b"   \n", "printed nothing"),
        (b"not json at all", "not a valid report"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (report_bytes().replace(b"A page", b"A \xc3 page"), "not UTF-8"),
        (report_bytes().replace(b'"total_ms": 5.0', b'"total_ms": NaN'), "finite number"),
        (report_bytes().replace(b'"total_ms": 5.0', b'"total_ms": Infinity'), "finite number"),
        (report_bytes().replace(b'"total_ms": 5.0', b'"total_ms": -Infinity'), "finite number"),
        (report_bytes().replace(b'"total_ms": 5.0', b'"total_ms": 1e999'), "finite number"),
        (report_bytes(tls={"days_to_expiry": float("nan")}), "tls"),
        (b"[1, 2, 3]", "not a valid report"),
        (b'{"schema": 1}', "not a valid report"),
        (report_bytes() + report_bytes(), "not a valid report"),
        (report_bytes(schema=2), "schema"),
        (report_bytes(status_code="200 OK"), "status_code"),
        (report_bytes(status_code=42), "status_code"),
        (report_bytes(title="x" * 5000), "title"),
        (report_bytes(unexpected=True), "unexpected"),
        (
            report_bytes(redirects=[{"url": "u", "status_code": 301, "location": "l"}] * 201),
            "redirects",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "not a valid report"),
        (
            json.dumps(
                make_report(body={"size": -1, "truncated": False, "sha256": None, "encoding": None})
            ).encode(),
            "body.size",
        ),
    ],
)
def test_bad_output_is_invalid_output(stdout: bytes, fragment: str) -> None:
    with pytest.raises(InvalidOutput, match=fragment.replace(".", r"\.")):
        parse_report(stdout)


def test_invalid_output_is_permanent() -> None:
    with pytest.raises(InvalidOutput) as raised:
        parse_report(b"{")
    assert raised.value.code == "invalid_output"
