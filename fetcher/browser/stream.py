"""The browser's output stream: one JSON report line, then the bytes of each artifact it
declares, back to back, with no encoding.

The report's ``artifacts`` list gives each artifact's ``name``, ``media_type``, ``size`` and
``sha256`` in stream order, so a reader takes exactly ``size`` bytes for each and checks its
hash; :func:`read_capture` does that, bounded, for the worker and the tests. This module needs
nothing but the standard library: the worker imports it without Playwright.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO, NamedTuple

#: What ``report`` is in every browser report, and the version of its shape.
REPORT_KIND = "scanbox.browser"
REPORT_VERSION = 1
#: Longest report line a reader accepts.
MAX_REPORT_LINE_BYTES = 8 * 1024 * 1024
#: Most bytes of artifacts a reader accepts, all of them together.
MAX_ARTIFACT_BYTES = 64 * 1024 * 1024
#: The artifacts a report may declare, each with the media types it may have.
ARTIFACT_MEDIA_TYPES = {
    "screenshot": ("image/png",),
    "dom": ("text/html; charset=utf-8",),
    "har": ("application/json",),
    "favicon": None,
}


class Artifact(NamedTuple):
    """A named blob the report declares and the stream carries after it."""

    name: str
    media_type: str
    data: bytes

    def declaration(self) -> dict[str, Any]:
        """The artifact as the report's ``artifacts`` list declares it."""
        return {
            "name": self.name,
            "media_type": self.media_type,
            "size": len(self.data),
            "sha256": hashlib.sha256(self.data).hexdigest(),
        }


class BadStream(ValueError):
    """The stream is not one bounded report line followed by the artifacts it declares."""


def encode_report(report: Mapping[str, Any]) -> bytes:
    """The report as one line of strict, ASCII-only JSON (NaN and infinities refused)."""
    return json.dumps(report, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode(
        "ascii"
    )


def write_capture(
    stream: BinaryIO, *, report: Mapping[str, Any], artifacts: Sequence[Artifact]
) -> None:
    """Write ``report`` (whose ``artifacts`` must declare ``artifacts``) and the artifacts."""
    stream.write(encode_report(report) + b"\n")
    for artifact in artifacts:
        stream.write(artifact.data)
    stream.flush()


def read_capture(
    stream: BinaryIO,
    *,
    max_report_bytes: int = MAX_REPORT_LINE_BYTES,
    max_artifact_bytes: int = MAX_ARTIFACT_BYTES,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Read a report and its artifacts from ``stream``, checking every declared size and hash.

    Raises BadStream when the line is too long or not a JSON object of this kind, when an
    artifact is undeclared in shape, too large, short or does not match its hash, or when bytes
    follow the last artifact.
    """
    line = stream.readline(max_report_bytes + 1)
    if len(line) > max_report_bytes or not line.endswith(b"\n"):
        raise BadStream("no complete report line within the limit")
    try:
        report = json.loads(line, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadStream(f"the report is not JSON: {error}") from None
    if not isinstance(report, dict) or report.get("report") != REPORT_KIND:
        raise BadStream("not a browser report")
    declared = report.get("artifacts")
    if not isinstance(declared, list):
        raise BadStream("the report declares no artifacts list")
    artifacts: dict[str, bytes] = {}
    total = 0
    for item in declared:
        name, size, digest = _declaration(item)
        if name in artifacts:
            raise BadStream(f"artifact {name!r} declared twice")
        total += size
        if total > max_artifact_bytes:
            raise BadStream("the artifacts are larger than the limit")
        data = stream.read(size)
        if len(data) != size:
            raise BadStream(f"artifact {name!r} is shorter than declared")
        if hashlib.sha256(data).hexdigest() != digest:
            raise BadStream(f"artifact {name!r} does not match its sha256")
        artifacts[name] = data
    if stream.read(1):
        raise BadStream("bytes follow the last artifact")
    return report, artifacts


def _declaration(item: Any) -> tuple[str, int, str]:
    if not isinstance(item, dict):
        raise BadStream("an artifact declaration is not an object")
    name, size, digest = item.get("name"), item.get("size"), item.get("sha256")
    media_type = item.get("media_type")
    if name not in ARTIFACT_MEDIA_TYPES:
        raise BadStream(f"unknown artifact {name!r}")
    allowed = ARTIFACT_MEDIA_TYPES[name]
    if not isinstance(media_type, str) or (allowed is not None and media_type not in allowed):
        raise BadStream(f"artifact {name!r} has media type {media_type!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BadStream(f"artifact {name!r} has no valid size")
    if not isinstance(digest, str) or len(digest) != 64 or not _is_hex(digest):
        raise BadStream(f"artifact {name!r} has no valid sha256")
    return name, size, digest


def _is_hex(text: str) -> bool:
    return all(character in "0123456789abcdef" for character in text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
