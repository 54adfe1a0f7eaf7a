"""What a completed scan led to: the URLs on other hosts its child scans would fetch.

The fetcher's report is page content, and so are these URLs: each is checked again by
``worker.submit.children`` (``validate_url``) before a job is made for it, and the fetcher's
own address checks apply when it is fetched. Sources, in the order their leads are taken:

1. ``redirect``: the final URL, when the fetch was redirected to another host;
2. ``form``: each form's action on another host;
3. ``link``: the first link to each other origin (``observations.links.targets``).

A host here is the URL's host and port (``http://a:8001`` and ``http://a:8002`` are two), and
the page's own hosts (the requested URL's and the final URL's) are never leads. Each host
gives one lead, the first found. Another source (the browser mode's subresources, say) is
one more function in ``SOURCES``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from worker.analysis.report import FetchReport
from worker.errors import InvalidURL
from worker.submit.children import Lead
from worker.urls import normalise_url


def _redirect(report: FetchReport) -> Iterable[Lead]:
    if report.redirects and report.final_url:
        yield Lead(url=report.final_url, via="redirect")


def _forms(report: FetchReport) -> Iterable[Lead]:
    for form in report.observations.forms:
        if form.action:
            yield Lead(url=form.action, via="form")


def _links(report: FetchReport) -> Iterable[Lead]:
    for url in report.observations.links.targets:
        yield Lead(url=url, via="link")


#: Where leads come from, in the order they are taken.
SOURCES: tuple[Callable[[FetchReport], Iterable[Lead]], ...] = (_redirect, _forms, _links)


def host_key(url: str | None) -> str | None:
    """The host and port ``url`` targets, as leads are told apart; ``None`` for a bad URL."""
    if not url:
        return None
    try:
        return urlsplit(normalise_url(url)).netloc
    except (InvalidURL, ValueError):
        return None


def leads_of(report: FetchReport) -> list[Lead]:
    """The leads of ``report``: one per other host, in the order of ``SOURCES``."""
    requested = host_key(report.requested_url)
    seen = {requested} if requested else set()
    leads: list[Lead] = []
    for source in SOURCES:
        for lead in source(report):
            key = host_key(lead.url)
            if key is None or key in seen:
                continue
            seen.add(key)
            leads.append(lead)
        # Past the redirect, the page is the final URL's: its own host leads nowhere new.
        final = host_key(report.final_url)
        if final:
            seen.add(final)
    return leads
