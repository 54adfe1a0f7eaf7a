"""The redirect chain of the captured page: each document its main frame loaded, and how it
got there (an HTTP redirect, a meta refresh, a ``Refresh`` header, a script...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fetcher.browser.devtools import RequestedNavigation
from fetcher.browser.requestlog import RequestRecord

#: DevTools' ``ClientNavigationReason`` → the hop's kind in the report.
REASON_KINDS = {
    "metaTagRefresh": "meta_refresh",
    "httpHeaderRefresh": "refresh_header",
    "scriptInitiated": "script",
    "anchorClick": "anchor",
    "formSubmissionGet": "form",
    "formSubmissionPost": "form",
    "reload": "reload",
    "initialFrameNavigation": "other",
    "pageBlockInterstitial": "other",
    "other": "other",
}
#: Most hops reported.
MAX_HOPS = 50


def redirect_chain(
    *, documents: Sequence[RequestRecord], navigations: Sequence[RequestedNavigation]
) -> list[dict[str, Any]]:
    """The hops of the main frame, from the first document request to the last.

    ``documents`` are the main frame's navigation requests in order; ``navigations`` what its
    DevTools session said each requested navigation's reason was. The first hop is ``initial``;
    a request that follows a redirect response is ``http`` (with the redirecting status); any
    other takes its kind from the first unused requested navigation to the same URL, or from
    the first unused one before it, or is ``other``.
    """
    by_index = {record.index: record for record in documents}
    unused = list(navigations)
    hops: list[dict[str, Any]] = []
    for position, record in enumerate(documents):
        hop: dict[str, Any] = {
            "url": record.url,
            "at_ms": round(record.started_s * 1000, 1),
            "kind": "initial" if position == 0 else "other",
            "reason": None,
            "status": None,
            "request": record.index,
        }
        if position > 0 and record.redirected_from is not None:
            previous = by_index.get(record.redirected_from)
            hop["kind"] = "http"
            hop["status"] = None if previous is None else previous.status
        elif position > 0:
            navigation = _take(unused, url=record.url, before_s=record.started_s)
            if navigation is not None:
                hop["kind"] = REASON_KINDS.get(navigation.reason, "other")
                hop["reason"] = navigation.reason
        hops.append(hop)
    return hops[:MAX_HOPS]


def _take(
    unused: list[RequestedNavigation], *, url: str, before_s: float
) -> RequestedNavigation | None:
    for candidates in (
        [n for n in unused if _without_fragment(n.url) == _without_fragment(url)],
        [n for n in unused if n.at_s <= before_s],
    ):
        if candidates:
            unused.remove(candidates[0])
            return candidates[0]
    return None


def _without_fragment(url: str) -> str:
    return url.split("#", 1)[0]
