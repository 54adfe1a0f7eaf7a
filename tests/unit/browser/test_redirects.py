"""The redirect chain: each main-frame document and how the page got there."""

from __future__ import annotations

from fetcher.browser.devtools import RequestedNavigation, initiator_summary
from fetcher.browser.redirects import redirect_chain
from fetcher.browser.requestlog import RequestRecord


def document(
    index: int, url: str, *, at: float, status: int = 200, redirected_from: int | None = None
) -> RequestRecord:
    return RequestRecord(
        index=index,
        url=url,
        method="GET",
        resource_type="document",
        frame=0,
        page=0,
        navigation=True,
        redirected_from=redirected_from,
        started_s=at,
        status=status,
    )


def navigation(url: str, reason: str, *, at: float) -> RequestedNavigation:
    return RequestedNavigation(
        frame_id="main", url=url, reason=reason, disposition="currentTab", at_s=at
    )


def test_each_hop_has_its_kind() -> None:
    documents = [
        document(0, "http://a.test/", at=0.0, status=301),
        document(3, "http://a.test/home", at=0.1, redirected_from=0),
        document(7, "http://b.test/", at=2.2),
        document(9, "http://c.test/", at=3.5),
    ]
    navigations = [
        navigation("http://b.test/#frag", "scriptInitiated", at=2.1),
        navigation("http://c.test/", "metaTagRefresh", at=3.4),
    ]

    hops = redirect_chain(documents=documents, navigations=navigations)

    assert [(hop["url"], hop["kind"]) for hop in hops] == [
        ("http://a.test/", "initial"),
        ("http://a.test/home", "http"),
        ("http://b.test/", "script"),
        ("http://c.test/", "meta_refresh"),
    ]
    assert hops[1]["status"] == 301
    assert hops[2]["reason"] == "scriptInitiated"
    assert [hop["request"] for hop in hops] == [0, 3, 7, 9]


def test_a_navigation_to_another_url_than_requested_takes_the_earlier_reason() -> None:
    documents = [document(0, "http://a.test/", at=0.0), document(1, "http://z.test/", at=1.0)]
    navigations = [navigation("http://y.test/", "httpHeaderRefresh", at=0.9)]

    hops = redirect_chain(documents=documents, navigations=navigations)

    assert hops[1]["kind"] == "refresh_header"


def test_a_document_nobody_asked_for_is_other() -> None:
    documents = [document(0, "http://a.test/", at=0.0), document(1, "http://b.test/", at=1.0)]

    hops = redirect_chain(documents=documents, navigations=[])

    assert hops[1]["kind"] == "other"
    assert redirect_chain(documents=[], navigations=[]) == []


def test_an_initiator_is_found_in_the_async_stack() -> None:
    initiator = {
        "type": "script",
        "stack": {
            "callFrames": [{"url": "", "lineNumber": 1}],
            "parent": {"callFrames": [{"url": "http://a.test/app.js", "lineNumber": 41}]},
        },
    }

    assert initiator_summary(initiator) == {
        "type": "script",
        "url": "http://a.test/app.js",
        "line": 41,
    }
    assert initiator_summary({}) == {"type": "other", "url": None, "line": None}
    assert initiator_summary({"type": "parser", "url": "u", "lineNumber": True})["line"] is None
