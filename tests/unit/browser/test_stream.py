"""The output stream: a report line, then exactly the artifacts it declares."""

from __future__ import annotations

import hashlib
import io
import json

import pytest

from fetcher.browser.stream import (
    Artifact,
    BadStream,
    encode_report,
    read_capture,
    write_capture,
)

ARTIFACTS = [
    Artifact(name="screenshot", media_type="image/png", data=b"\x89PNG\r\n\x1a\n" + b"\n" * 9),
    Artifact(name="dom", media_type="text/html; charset=utf-8", data="<p>é</p>".encode()),
    Artifact(name="har", media_type="application/json", data=b'{"log": {}}'),
]


def report_for(artifacts: list[Artifact]) -> dict[str, object]:
    return {
        "report": "scanbox.browser",
        "version": 1,
        "title": "line\nbreak \u202e",
        "artifacts": [artifact.declaration() for artifact in artifacts],
    }


def written(report: dict[str, object], artifacts: list[Artifact]) -> bytes:
    out = io.BytesIO()
    write_capture(out, report=report, artifacts=artifacts)
    return out.getvalue()


def test_a_written_capture_reads_back_whole() -> None:
    data = written(report_for(ARTIFACTS), ARTIFACTS)

    report, artifacts = read_capture(io.BytesIO(data))

    assert report["title"] == "line\nbreak \u202e"
    assert artifacts == {artifact.name: artifact.data for artifact in ARTIFACTS}
    # The report is one ASCII line: the newline in the title is escaped.
    assert data.split(b"\n", 1)[0].isascii()


def test_the_declaration_names_size_and_hash() -> None:
    declared = ARTIFACTS[1].declaration()

    assert declared == {
        "name": "dom",
        "media_type": "text/html; charset=utf-8",
        "size": len(ARTIFACTS[1].data),
        "sha256": hashlib.sha256(ARTIFACTS[1].data).hexdigest(),
    }


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_report_with_a_non_finite_number_is_never_written(value: float) -> None:
    with pytest.raises(ValueError, match="JSON"):
        encode_report({"report": "scanbox.browser", "x": value})


def test_a_tampered_artifact_is_refused() -> None:
    data = bytearray(written(report_for(ARTIFACTS), ARTIFACTS))
    data[-1] ^= 1

    with pytest.raises(BadStream, match="sha256"):
        read_capture(io.BytesIO(bytes(data)))


def test_a_short_stream_is_refused() -> None:
    data = written(report_for(ARTIFACTS), ARTIFACTS)

    with pytest.raises(BadStream, match="shorter"):
        read_capture(io.BytesIO(data[:-3]))


def test_bytes_after_the_last_artifact_are_refused() -> None:
    data = written(report_for(ARTIFACTS), ARTIFACTS) + b"smuggled"

    with pytest.raises(BadStream, match="follow"):
        read_capture(io.BytesIO(data))


def test_a_report_line_over_the_limit_is_refused_without_reading_on() -> None:
    data = written(report_for(ARTIFACTS), ARTIFACTS)

    with pytest.raises(BadStream, match="limit"):
        read_capture(io.BytesIO(data), max_report_bytes=20)


def test_artifacts_over_the_limit_are_refused() -> None:
    data = written(report_for(ARTIFACTS), ARTIFACTS)

    with pytest.raises(BadStream, match="larger"):
        read_capture(io.BytesIO(data), max_artifact_bytes=10)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "../../etc/passwd"}, "unknown artifact"),
        ({"media_type": "text/html"}, "media type"),
        ({"size": -1}, "size"),
        ({"size": True}, "size"),
        ({"sha256": "ZZ" * 32}, "sha256"),
    ],
)
def test_a_bad_declaration_is_refused(change: dict[str, object], message: str) -> None:
    report = report_for(ARTIFACTS[:1])
    declarations = report["artifacts"]
    assert isinstance(declarations, list)
    declarations[0].update(change)
    data = encode_report(report) + b"\n" + ARTIFACTS[0].data

    with pytest.raises(BadStream, match=message):
        read_capture(io.BytesIO(data))


def test_an_artifact_declared_twice_is_refused() -> None:
    twice = [ARTIFACTS[2], ARTIFACTS[2]]
    data = written(report_for(twice), twice)

    with pytest.raises(BadStream, match="twice"):
        read_capture(io.BytesIO(data))


@pytest.mark.parametrize(
    "line",
    [
        b"NaN\n",
        b'{"report": "scanbox.browser", "x": Infinity, "artifacts": []}\n',
        b"[]\n",
        b'{"report": "other", "artifacts": []}\n',
        b"\xff\xfe\n",
    ],
)
def test_a_line_that_is_not_a_browser_report_is_refused(line: bytes) -> None:
    with pytest.raises(BadStream):
        read_capture(io.BytesIO(line))


def test_an_empty_artifact_list_reads_as_no_artifacts() -> None:
    line = json.dumps({"report": "scanbox.browser", "artifacts": []}).encode() + b"\n"

    assert read_capture(io.BytesIO(line))[1] == {}
