"""A browser capture's report, as the worker accepts it, and what only a browser sees.

The capture (``fetcher.browser``) prints one report line and its artifacts; the stream's
shape, sizes and hashes are checked by ``fetcher.browser.stream.read_capture``. This module
validates the fields the worker reads (everything else is kept as data, never interpreted),
maps the capture onto a :class:`~worker.analysis.report.FetchReport` so that the rules,
the per-host gate, child scans and the result's columns treat both modes alike, and adds the
rules over what only a browser sees: script and meta redirects, a page that talks to many
hosts, downloads, connections the egress proxy refused.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fetcher.observations import host_facts
from worker.analysis.report import (
    Body,
    Download,
    FetchReport,
    Form,
    HostFacts,
    Iframes,
    Links,
    Observations,
    Peer,
    Redirect,
    Scripts,
    Timings,
    invalid_output,
)
from worker.analysis.rules import Judgement, Reason, summed

#: Longest string and list the worker reads from a browser report.
MAX_TEXT = 8192
MAX_ITEMS = 1000
#: Distinct hosts a page may talk to before that is a reason of its own.
MANY_HOSTS = 15

Text = Annotated[str, Field(max_length=MAX_TEXT)]
Count = Annotated[int, Field(ge=0)]


class _Read(BaseModel):
    # What is read is checked; the rest of the report is kept as it came.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class BrowserError(_Read):
    code: Text
    message: Text


class BrowserRequest(_Read):
    url: Text
    method: Text
    resource_type: Text
    status: Annotated[int, Field(ge=0, le=999)] | None
    media_type: Text | None
    size: Count | None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None
    failure: Text | None


class Hop(_Read):
    url: Text
    kind: Text
    status: Annotated[int, Field(ge=100, le=999)] | None
    at_ms: Annotated[float, Field(ge=0)]


class BrowserDownload(_Read):
    url: Text | None = None
    name: Text | None = None
    size: Count | None = None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class Frame(_Read):
    url: Text | None = None
    parent: int | None = None


class BrowserReport(_Read):
    """The fields of a browser report the worker reads."""

    report: Literal["scanbox.browser"]
    version: Literal[1]
    url: Text
    final_url: Text | None
    status: Annotated[int, Field(ge=100, le=999)] | None
    title: Text | None
    error: BrowserError | None
    requests: Annotated[list[BrowserRequest], Field(max_length=MAX_ITEMS)]
    redirects: Annotated[list[Hop], Field(max_length=MAX_ITEMS)]
    downloads: Annotated[list[BrowserDownload], Field(max_length=MAX_ITEMS)]
    frames: Annotated[list[Frame], Field(max_length=MAX_ITEMS)]
    #: The forms of the DOM after scripts ran (absent from captures that predate them).
    forms: Annotated[list[Form], Field(max_length=MAX_ITEMS)] = []
    timings: dict[str, float | None]


def parse_browser_report(data: dict[str, Any]) -> BrowserReport:
    """Validate the fields of ``data`` the worker reads, or raise ``InvalidOutput``."""
    try:
        return BrowserReport.model_validate(data)
    except ValidationError as error:
        raise invalid_output(error, of="browser") from None


def _host(url: str | None) -> str:
    if not url:
        return ""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _document(report: BrowserReport) -> BrowserRequest | None:
    """The request that brought the final document."""
    documents = [r for r in report.requests if r.resource_type == "document"]
    final = [r for r in documents if r.url == report.final_url] or documents
    return final[-1] if final else None


#: The fetcher's error codes a browser error may keep; any other is a connection failure.
_FETCH_CODES = frozenset(
    {"bad_url", "blocked", "dns", "refused", "unreachable", "timeout", "tls", "protocol"}
)


def as_fetch_report(
    report: BrowserReport, *, egress: list[dict[str, Any]] | None = None
) -> FetchReport:
    """The capture as a fetch report: the final document's answer, the HTTP hops, the
    observations a browser makes (scripts, frames, script redirects, downloads); the peer of
    the final document is the address the egress proxy connected to for its host."""
    document = _document(report)
    final_host = _host(report.final_url)
    peer = None
    for connection in egress or ():
        if connection.get("host") == final_host and connection.get("connected"):
            port = connection.get("port")
            peer = Peer(address=str(connection["connected"]), port=port if port else 0)
    page_host = final_host or _host(report.url)
    script_hosts = sorted(
        {_host(r.url) for r in report.requests if r.resource_type == "script"} - {page_host, ""}
    )
    frame_hosts = sorted({_host(f.url) for f in report.frames if f.parent is not None} - {""})
    script_hops = [hop.url for hop in report.redirects if hop.kind == "script"]
    meta = next((hop.url for hop in report.redirects if hop.kind == "meta_refresh"), None)
    error = None
    if report.error is not None:
        code = report.error.code if report.error.code in _FETCH_CODES else "connection"
        error = {"code": code, "message": report.error.message, "url": report.url}
    hops = [
        Redirect(url=hop.url, status_code=hop.status, location=hop.url)
        for hop in report.redirects
        if hop.kind == "http" and hop.status is not None
    ]
    total = report.timings.get("capture_ms") or report.timings.get("total_ms") or 0.0
    # What the page led to: the first request to each other host (subresources included),
    # the leads of child scans as a page's links are for the fetcher.
    first_by_host: dict[str, str] = {}
    for request in report.requests:
        host = _host(request.url)
        if host and host != page_host and request.url.startswith(("http://", "https://")):
            first_by_host.setdefault(host, request.url)
    return FetchReport.model_validate(
        {
            "schema": 1,
            "requested_url": report.url,
            "final_url": report.final_url,
            "status_code": report.status,
            "reason": None,
            "http_version": None,
            "not_modified": False,
            "redirects": [hop.model_dump() for hop in hops],
            "headers": {},
            "content_type": None if document is None else document.media_type,
            "charset": None,
            "body": None
            if document is None or document.size is None
            else Body(
                size=document.size, truncated=False, sha256=document.sha256, encoding=None
            ).model_dump(),
            "title": report.title,
            "peer": None if peer is None else peer.model_dump(),
            "tls": None,
            "timings": Timings(
                total_ms=max(float(total), 0.0), startup_ms=None, connect_ms=None, ttfb_ms=None
            ).model_dump(),
            "attempts": 1,
            "error": error,
            "observations": Observations(
                forms=report.forms,
                scripts=Scripts(
                    inline_count=0,
                    external_count=sum(1 for r in report.requests if r.resource_type == "script"),
                    external_hosts=script_hosts[:100],
                ),
                iframes=Iframes(count=len(frame_hosts), hosts=frame_hosts[:100]),
                meta_refresh=meta,
                script_redirects=script_hops[:100],
                # A download the page started is a reason of its own (browser_download).
                download=Download(attachment=False, filename=None, executable=False),
                mixed_content=[],
                host=HostFacts.model_validate(host_facts(report.final_url or report.url)),
                links=Links(
                    count=len(first_by_host),
                    external_hosts=sorted(first_by_host)[:100],
                    targets=list(first_by_host.values())[:100],
                ),
            ).model_dump(),
        }
    )


def browser_reasons(
    report: BrowserReport, *, egress: list[dict[str, Any]] | None = None
) -> list[Reason]:
    """The reasons only a browser capture gives, each with its own line."""
    reasons = []
    delayed = [hop for hop in report.redirects if hop.kind == "script" and hop.at_ms >= 1000]
    if delayed:
        reasons.append(
            Reason(
                rule="delayed_script_redirect",
                score=25,
                message=f"a script navigated after {delayed[0].at_ms / 1000:.1f} s "
                f"to {delayed[0].url}",
            )
        )
    hosts = {_host(r.url) for r in report.requests} - {""}
    if len(hosts) > MANY_HOSTS:
        reasons.append(
            Reason(
                rule="many_hosts",
                score=10,
                message=f"the page talked to {len(hosts)} hosts (more than {MANY_HOSTS})",
            )
        )
    if report.downloads:
        names = ", ".join(d.name or d.url or "?" for d in report.downloads[:3])
        reasons.append(
            Reason(
                rule="browser_download",
                score=30,
                message=f"the page started {len(report.downloads)} download(s): {names}",
            )
        )
    refused = sorted(
        {
            f"{c.get('host')}:{c.get('port')}"
            for c in egress or ()
            if c.get("decision") == "refused" and c.get("host")
        }
    )
    if refused:
        reasons.append(
            Reason(
                rule="egress_refused",
                score=20,
                message="the page tried to reach what the egress proxy refused: "
                + ", ".join(refused[:5]),
            )
        )
    return reasons


#: Reasons of a decision by the policy lists, which no rule changes.
POLICY_RULES = frozenset({"blocked_hash", "blocked_domain", "allowed_domain"})


def with_browser_reasons(judgement: Judgement, extra: list[Reason]) -> Judgement:
    """``judgement`` with ``extra`` reasons added to its score (a policy decision is kept)."""
    if not extra or any(reason.rule in POLICY_RULES for reason in judgement.reasons):
        return judgement
    return summed((*judgement.reasons, *extra))
