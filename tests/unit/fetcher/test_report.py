"""The JSON report: exactly the schema's keys, bounded lists and strings, nulls where unknown."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from fetcher.bounds import MAX_LIST_ITEMS, MAX_STRING_CHARS, bounded
from fetcher.errors import Blocked
from fetcher.outcome import FetchOutcome
from fetcher.report import build_report
from tests.unit.fetcher.servers import Reply, ScriptedServer, replies
from tests.unit.fetcher.support import (
    OBSERVATION_KEYS,
    TOP_LEVEL_KEYS,
    fetch_loopback,
    loopback_options,
)

MakeServer = Callable[..., ScriptedServer]


def test_a_successful_fetch_fills_every_key(make_server: MakeServer) -> None:
    body = b"<title>Hi</title>"
    server = make_server(
        replies(Reply(headers=[("Content-Type", "text/html; charset=utf-8")], body=body))
    )
    outcome = fetch_loopback(server.url("/"), options=loopback_options(server.port))

    report = build_report(outcome, now=0.0)

    assert list(report) == TOP_LEVEL_KEYS
    assert set(report["observations"]) == OBSERVATION_KEYS
    assert report["schema"] == 1
    assert report["final_url"] == server.url("/")
    assert (report["status_code"], report["reason"], report["http_version"]) == (
        200,
        "OK",
        "HTTP/1.1",
    )
    assert report["content_type"] == "text/html"
    assert report["charset"] == "utf-8"
    assert report["title"] == "Hi"
    assert report["body"] == {
        "size": len(body),
        "truncated": False,
        "sha256": hashlib.sha256(body).hexdigest(),
        "encoding": None,
    }
    assert report["peer"] == {"address": "127.0.0.1", "port": server.port}
    assert report["tls"] is None
    assert set(report["timings"]) == {"total_ms", "startup_ms", "connect_ms", "ttfb_ms"}
    assert report["timings"]["connect_ms"] >= 0
    assert report["attempts"] == 1
    assert report["error"] is None
    json.dumps(report)


def test_a_failed_fetch_has_nulls_and_a_structured_error() -> None:
    outcome = FetchOutcome(
        requested_url="http://10.0.0.1/",
        final=None,
        redirects=(),
        attempts=0,
        error=Blocked("blocked as private", url="http://10.0.0.1/"),
        not_modified=False,
        total_ms=1.23456,
        startup_ms=None,
    )

    report = build_report(outcome, now=0.0)

    assert list(report) == TOP_LEVEL_KEYS
    assert report["error"] == {
        "code": "blocked",
        "message": "blocked as private",
        "url": "http://10.0.0.1/",
    }
    for key in ("final_url", "status_code", "reason", "http_version", "peer", "tls", "title"):
        assert report[key] is None
    assert report["body"] == {"size": 0, "truncated": False, "sha256": None, "encoding": None}
    assert report["timings"] == {
        "total_ms": 1.235,
        "startup_ms": None,
        "connect_ms": None,
        "ttfb_ms": None,
    }
    assert report["observations"]["host"] == {
        "ip_literal": True,
        "punycode": False,
        "unicode": None,
    }


def test_lists_and_strings_are_bounded(make_server: MakeServer) -> None:
    scripts = "".join(f'<script src="https://h{index}.test/x.js"></script>' for index in range(80))
    title = "T" * 5000
    page = f"<title>{title}</title>{scripts}".encode()
    server = make_server(
        replies(
            Reply(
                status=302,
                headers=[("Location", "/" + "a" * 3000), ("Content-Type", "text/html")],
                body=page,
            )
        )
    )
    outcome = fetch_loopback(
        server.url("/"), options=loopback_options(server.port, max_redirects=0)
    )

    report = build_report(outcome, now=0.0)

    assert report["error"]["code"] == "redirect_limit"
    assert len(report["title"]) == MAX_STRING_CHARS
    assert report["observations"]["scripts"]["external_count"] == 80
    assert len(report["observations"]["scripts"]["external_hosts"]) == MAX_LIST_ITEMS
    assert len(report["redirects"][0]["location"]) == MAX_STRING_CHARS
    assert len(report["headers"]["location"]) == MAX_STRING_CHARS


def test_bounded_cuts_nested_values_and_leaves_the_rest() -> None:
    value: dict[str, Any] = {
        "n": 5,
        "flag": True,
        "none": None,
        "text": "x" * 3000,
        "items": [{"s": "y" * 3000}] * 60,
    }

    result = bounded(value)

    assert result["n"] == 5
    assert result["flag"] is True
    assert result["none"] is None
    assert len(result["text"]) == MAX_STRING_CHARS
    assert len(result["items"]) == MAX_LIST_ITEMS
    assert len(result["items"][0]["s"]) == MAX_STRING_CHARS
