"""A capture's findings as the report and the artifacts the stream carries after it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from fetcher.browser.capture import Findings, Recorder
from fetcher.browser.har import build_har
from fetcher.browser.options import BrowserOptions
from fetcher.browser.relay import Relay
from fetcher.browser.report import build_report, media_type
from fetcher.browser.stream import Artifact
from fetcher.html import parse_page

#: Media types of the artifacts.
PNG = "image/png"
HTML = "text/html; charset=utf-8"
JSON = "application/json"


def assemble(
    *,
    findings: Findings,
    recorder: Recorder,
    relay: Relay,
    options: BrowserOptions,
    started_at: float,
    timings: Mapping[str, float],
) -> tuple[dict[str, Any], list[Artifact]]:
    """The report and its artifacts (screenshot, DOM, HAR, favicon: those that exist)."""
    collected = findings.collected
    artifacts: list[Artifact] = []
    screenshot: dict[str, Any] | None = None
    favicon: dict[str, Any] | None = None
    if collected is not None and collected.screenshot is not None:
        artifacts.append(Artifact(name="screenshot", media_type=PNG, data=collected.screenshot))
        width, height = collected.screenshot_size or (0, 0)
        screenshot = {"width": width, "height": height}
    if collected is not None and collected.dom is not None:
        artifacts.append(Artifact(name="dom", media_type=HTML, data=collected.dom))
    records = recorder.requests.records
    har, har_left_out = build_har(
        records,
        started_at=started_at,
        title=None if collected is None else collected.title,
        max_bytes=options.max_har_bytes,
    )
    artifacts.append(Artifact(name="har", media_type=JSON, data=har))
    if collected is not None and collected.favicon is not None:
        icon = collected.favicon
        kind = media_type(icon.media_type)
        artifacts.append(Artifact(name="favicon", media_type=kind, data=icon.data))
        favicon = {
            "url": icon.url,
            "media_type": kind,
            "size": len(icon.data),
            "sha256": hashlib.sha256(icon.data).hexdigest(),
        }
    fields = {
        "final_url": findings.final_url,
        "status": findings.status,
        "loaded": findings.loaded,
        "complete": findings.error is None and findings.loaded,
        "error": findings.error,
        "title": None if collected is None else collected.title,
        "text": None if collected is None else collected.text,
        "screenshot": screenshot,
        "dom_truncated": False if collected is None else collected.dom_truncated,
        "favicon": favicon,
        "tls": None if collected is None else collected.tls,
        "cookies": [] if collected is None else collected.cookies,
        "missing": {} if collected is None else collected.missing,
        "redirects": findings.hops,
        "console": recorder.events.messages,
        "downloads": [
            {**record, "media_type": _download_type(recorder, record["url"])}
            for record in recorder.downloads.records
        ],
        "frames": recorder.frames.describe(),
        "forms": _forms(collected.dom if collected else None, page_url=findings.final_url),
        "proxy": {
            "connections": [
                {
                    "request_line": connection.request_line,
                    "opened_ms": round(connection.opened_s * 1000, 1),
                    "sent_bytes": connection.sent_bytes,
                    "received_bytes": connection.received_bytes,
                    "refused": connection.refused,
                }
                for connection in relay.connections()
            ],
        },
        "timings": dict(timings) | findings.timings,
    }
    limits = {
        "requests_dropped": recorder.requests.dropped,
        "console_dropped": recorder.events.dropped,
        "downloads_dropped": recorder.downloads.dropped,
        "frames_unnumbered": recorder.frames.unnumbered,
        "har_entries_left_out": har_left_out,
        "connections_unrecorded": relay.unrecorded,
    }
    report = build_report(
        url=findings.url, fields=fields, requests=records, artifacts=artifacts, limits=limits
    )
    return report, artifacts


#: Seconds the DOM's forms may take to parse (the fetcher's parser, inside the sandbox).
FORMS_PARSE_BUDGET_S = 2.0


def _forms(dom: bytes | None, *, page_url: str | None) -> list[dict[str, Any]]:
    """The forms of the DOM after scripts ran: where each posts, whether it asks for a
    password, and whether it leaves the page's origin or plain HTTP."""
    if dom is None or page_url is None:
        return []
    page = parse_page(
        dom.decode("utf-8", "replace"), page_url=page_url, budget_seconds=FORMS_PARSE_BUDGET_S
    )
    return [form.as_report() for form in page.forms]


def _download_type(recorder: Recorder, url: str) -> str | None:
    for record in reversed(recorder.requests.records):
        if record.url == url and record.mime_type is not None:
            return media_type(record.mime_type)
    return None
