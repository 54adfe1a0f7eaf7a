"""Option builders and fetch shortcuts shared by the fetcher tests."""

from __future__ import annotations

import ipaddress
import ssl
from typing import Any

import trustme

from fetcher.fetch import fetch
from fetcher.options import FetchOptions
from fetcher.outcome import FetchOutcome
from fetcher.ports import parse_port_policy
from tests.unit.fetcher.servers import numeric_resolver

#: The name the HTTPS tests' fake resolver maps to 127.0.0.1.
TEST_HOST = "scanbox-test.internal"
#: The only network most tests allow: the address their servers listen on.
LOOPBACK_ONLY = (ipaddress.ip_network("127.0.0.1/32"),)

#: The report's top-level keys, in the order the fetcher prints them.
TOP_LEVEL_KEYS = [
    "schema",
    "requested_url",
    "final_url",
    "status_code",
    "reason",
    "http_version",
    "not_modified",
    "redirects",
    "headers",
    "content_type",
    "charset",
    "body",
    "title",
    "peer",
    "tls",
    "timings",
    "attempts",
    "error",
    "observations",
]
OBSERVATION_KEYS = {
    "forms",
    "scripts",
    "iframes",
    "meta_refresh",
    "script_redirects",
    "download",
    "mixed_content",
    "host",
    "links",
}


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    """A server-side TLS context presenting a certificate for ``names`` issued by ``ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(*names, common_name=names[0]).configure_cert(context)
    return context


def loopback_options(*ports: int, **changes: Any) -> FetchOptions:
    """Options reaching only 127.0.0.1 on ``ports``, with short deadlines for tests."""
    settings: dict[str, Any] = {
        "timeout_ms": 5_000,
        "connect_timeout_ms": 2_000,
        "read_timeout_ms": 2_000,
        "allowed_networks": LOOPBACK_ONLY,
        "allowed_ports": parse_port_policy(",".join(str(port) for port in ports) or "any"),
    }
    settings.update(changes)
    return FetchOptions(**settings)


def no_sleep(seconds: float) -> None:
    """A sleep that returns at once, for tests whose backoff delays are only asserted."""


def fetch_loopback(url: str, *, options: FetchOptions, **kwargs: Any) -> FetchOutcome:
    """Fetch with the no-DNS resolver and no real sleeping unless a test says otherwise."""
    kwargs.setdefault("resolver", numeric_resolver)
    kwargs.setdefault("sleep", no_sleep)
    return fetch(url, options=options, **kwargs)
