"""The request head the fetcher writes itself, and that it leaves before the response side loads."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fetcher.ports import parse_port_policy
from fetcher.request import host_header, request_head
from fetcher.urls import parse_target
from tests.unit.fetcher.servers import Reply, ScriptedServer, replies

MakeServer = Callable[..., ScriptedServer]

REPOSITORY = Path(__file__).resolve().parents[3]
ANY_PORT = parse_port_policy("any")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://a.test/", "a.test"),
        ("https://a.test/", "a.test"),
        ("http://a.test:80/", "a.test"),
        ("http://a.test:8080/", "a.test:8080"),
        ("https://a.test:80/", "a.test:80"),
        ("http://[::1]/", "[::1]"),
        ("http://[::1]:8443/", "[::1]:8443"),
        ("http://bücher.test/", "xn--bcher-kva.test"),
    ],
)
def test_the_host_header_names_the_port_only_when_it_is_not_the_default(
    url: str, expected: str
) -> None:
    assert host_header(parse_target(url, allowed_ports=ANY_PORT)) == expected


def test_the_head_is_the_request_line_host_and_headers_in_order() -> None:
    target = parse_target("http://a.test:8080/a b?q=1#fragment", allowed_ports=ANY_PORT)

    head = request_head(target, [("User-Agent", "ua/1"), ("Connection", "close")])

    assert head == (
        b"GET /a%20b?q=1 HTTP/1.1\r\n"
        b"Host: a.test:8080\r\n"
        b"User-Agent: ua/1\r\n"
        b"Connection: close\r\n"
        b"\r\n"
    )


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "nul\x00", "caf\u00e9"])
def test_a_header_that_would_split_the_request_is_refused(value: str) -> None:
    target = parse_target("http://a.test/", allowed_ports=ANY_PORT)

    with pytest.raises(ValueError, match="not printable ASCII"):
        request_head(target, [("If-None-Match", value)])


# Run in a fresh interpreter: records which modules were loaded when the request was sent.
RECORD_AT_SEND = """
import sys
from fetcher.connection import open_socket
from fetcher.fetch import fetch
from fetcher.options import parse_invocation

WATCHED = (
    "http.client", "email", "ssl", "json", "fetcher.body", "fetcher.report",
    "threading", "encodings.idna",
)
loaded_at_send = []

class Recording:
    def __init__(self, sock):
        self._sock = sock
    def sendall(self, data):
        loaded_at_send.extend(name for name in WATCHED if name in sys.modules)
        self._sock.sendall(data)
    def __getattr__(self, name):
        return getattr(self._sock, name)

def opener(**kwargs):
    return Recording(open_socket(**kwargs))

invocation = parse_invocation(sys.argv[1:])
outcome = fetch(invocation.url, options=invocation.options, opener=opener)
import json
print(json.dumps({"status": outcome.final.status_code, "loaded_at_send": loaded_at_send}))
"""


def test_the_request_to_an_ip_leaves_before_the_response_side_and_name_lookups_load(
    make_server: MakeServer,
) -> None:
    server = make_server(replies(Reply(body=b"ok")))

    result = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            RECORD_AT_SEND,
            "--allow-network",
            "127.0.0.1/32",
            "--allowed-ports",
            str(server.port),
            "--",
            server.url("/"),
        ],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"status": 200, "loaded_at_send": []}
