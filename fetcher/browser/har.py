"""The request log as a HAR 1.2 document (http://www.softwareishard.com/blog/har-12-spec/),
bounded in bytes.

Entries carry no bodies; each response's ``content`` has its size and media type, and the
custom fields ``_sha256``, ``_resourceType``, ``_frame``, ``_initiator`` and ``_failure`` carry
what the report knows beyond HAR. Behind the egress proxy the peer of every entry is the proxy,
so ``serverIPAddress`` is left out: the proxy's own record names the real peers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fetcher.browser.requestlog import RequestRecord

#: Who made the HAR, as its ``creator`` says.
CREATOR = {"name": "scanbox-browser", "version": "1"}
#: The page id every entry refers to.
PAGE_ID = "page_0"
#: Most query parameters listed per entry.
MAX_QUERY_PARAMETERS = 100


def build_har(
    records: Sequence[RequestRecord],
    *,
    started_at: float,
    title: str | None,
    max_bytes: int,
) -> tuple[bytes, int]:
    """The HAR of ``records`` (times relative to ``started_at``, a Unix time) as UTF-8 JSON
    of at most ``max_bytes``, and how many entries were left out to stay within it."""
    start = datetime.fromtimestamp(started_at, tz=UTC)
    log: dict[str, Any] = {
        "version": "1.2",
        "creator": CREATOR,
        "pages": [
            {
                "startedDateTime": _iso(start),
                "id": PAGE_ID,
                "title": title or "",
                "pageTimings": {"onContentLoad": -1, "onLoad": -1},
            }
        ],
        "entries": [],
    }
    frame = json.dumps({"log": log}, ensure_ascii=True, allow_nan=False).encode()
    used = len(frame)
    entries: list[dict[str, Any]] = []
    left_out = 0
    for record in records:
        entry = har_entry(record, start=start)
        size = len(json.dumps(entry, ensure_ascii=True, allow_nan=False)) + 1
        if used + size > max_bytes:
            left_out += 1
            continue
        used += size
        entries.append(entry)
    log["entries"] = entries
    if left_out:
        log["_entriesLeftOut"] = left_out
    data = json.dumps({"log": log}, ensure_ascii=True, allow_nan=False).encode()
    return data, left_out


def har_entry(record: RequestRecord, *, start: datetime) -> dict[str, Any]:
    """One HAR entry for ``record``."""
    response_s = record.response_s if record.response_s is not None else record.finished_s
    wait = _ms(record.started_s, response_s)
    receive = _ms(response_s, record.finished_s)
    location = dict((name.lower(), value) for name, value in record.response_headers)
    entry: dict[str, Any] = {
        "pageref": PAGE_ID,
        "startedDateTime": _iso(start + timedelta(seconds=record.started_s)),
        "time": wait + receive,
        "request": {
            "method": record.method,
            "url": record.url,
            "httpVersion": "",
            "cookies": [],
            "headers": _pairs(record.request_headers),
            "queryString": [
                {"name": name, "value": value}
                for name, value in parse_qsl(urlsplit(record.url).query, keep_blank_values=True)[
                    :MAX_QUERY_PARAMETERS
                ]
            ],
            "headersSize": -1,
            "bodySize": -1,
        },
        "response": {
            "status": record.status or 0,
            "statusText": record.status_text or "",
            "httpVersion": "",
            "cookies": [],
            "headers": _pairs(record.response_headers),
            "content": {
                "size": record.size if record.size is not None else -1,
                "mimeType": record.mime_type or "",
            },
            "redirectURL": location.get("location", ""),
            "headersSize": -1,
            "bodySize": record.transfer_size if record.transfer_size is not None else -1,
        },
        "cache": {},
        "timings": {"send": 0, "wait": wait, "receive": receive},
        "_resourceType": record.resource_type,
        "_frame": record.frame,
        "_initiator": record.initiator,
    }
    if record.sha256 is not None:
        entry["response"]["content"]["_sha256"] = record.sha256
    if record.failure is not None:
        entry["_failure"] = record.failure
    return entry


def _pairs(headers: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in headers]


def _ms(start_s: float | None, end_s: float | None) -> float:
    if start_s is None or end_s is None:
        return 0.0
    return round(max(0.0, end_s - start_s) * 1000, 3)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
