"""The browser's JSON report: versioned, strict (no NaN, ASCII only) and bounded in size.

Every string the page controls is cut to a length and stripped of lone surrogates (which
JavaScript strings may hold and UTF-8 cannot); every list was bounded where it was recorded.
A report whose line would still be longer than :data:`MAX_REPORT_BYTES` loses requests from
its end, and says how many.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fetcher.browser.requestlog import RequestRecord
from fetcher.browser.stream import REPORT_KIND, REPORT_VERSION, Artifact, encode_report

#: Longest report line written; the stream reader accepts this and a little more.
MAX_REPORT_BYTES = 6 * 1024 * 1024
#: Longest string kept anywhere in the report (URLs included).
MAX_STRING_CHARS = 8192
#: A media type as the report may carry it; anything else becomes the generic one.
GENERIC_MEDIA_TYPE = "application/octet-stream"

_SURROGATE = re.compile("[\ud800-\udfff]")
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,63}/[a-z0-9][a-z0-9.+-]{0,63}")


def clean(value: Any) -> Any:
    """``value`` with every string cut to MAX_STRING_CHARS and lone surrogates replaced, and
    ``None`` for any number that is not finite."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value[:MAX_STRING_CHARS])
    if isinstance(value, list | tuple):
        return [clean(item) for item in value]
    if isinstance(value, dict):
        return {str(key): clean(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def media_type(value: str | None) -> str:
    """The bare ``type/subtype`` of a Content-Type header, or the generic type."""
    bare = (value or "").split(";", 1)[0].strip().lower()
    return bare if _MEDIA_TYPE.fullmatch(bare) else GENERIC_MEDIA_TYPE


def request_entry(record: RequestRecord) -> dict[str, Any]:
    """One request as the report lists it."""
    return {
        "index": record.index,
        "url": record.url,
        "method": record.method,
        "resource_type": record.resource_type,
        "frame": record.frame,
        "page": record.page,
        "navigation": record.navigation,
        "redirected_from": record.redirected_from,
        "status": record.status,
        "media_type": None if record.mime_type is None else media_type(record.mime_type),
        "size": record.size,
        "transfer_size": record.transfer_size,
        "sha256": record.sha256,
        "hash_missing": record.hash_missing,
        "failure": record.failure,
        "initiator": record.initiator,
        "started_ms": _ms(record.started_s),
        "finished_ms": _ms(record.finished_s),
    }


def build_report(
    *,
    url: str,
    fields: Mapping[str, Any],
    requests: Sequence[RequestRecord],
    artifacts: Sequence[Artifact],
    limits: Mapping[str, int],
) -> dict[str, Any]:
    """The report: ``fields`` (what the capture found), the request list and the artifacts,
    cut to MAX_REPORT_BYTES by leaving out requests from the end if need be."""
    entries = [request_entry(record) for record in requests]
    counts = dict(limits)
    report = _assemble(url=url, fields=fields, entries=entries, artifacts=artifacts, limits=counts)
    kept = len(entries)
    while len(encode_report(report)) > MAX_REPORT_BYTES and kept > 0:
        kept //= 2
        counts["requests_cut"] = len(entries) - kept
        report = _assemble(
            url=url, fields=fields, entries=entries[:kept], artifacts=artifacts, limits=counts
        )
    return report


def _assemble(
    *,
    url: str,
    fields: Mapping[str, Any],
    entries: list[dict[str, Any]],
    artifacts: Sequence[Artifact],
    limits: Mapping[str, int],
) -> dict[str, Any]:
    body = clean({**fields, "requests": entries, "limits": dict(limits)})
    return {
        "report": REPORT_KIND,
        "version": REPORT_VERSION,
        "url": clean(url),
        **body,
        "artifacts": [artifact.declaration() for artifact in artifacts],
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)
