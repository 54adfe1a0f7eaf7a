"""What a fetch found out, before it is shaped into the JSON report."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from fetcher.body import Body
    from fetcher.errors import FetchError
    from fetcher.resolution import PinnedAddress
    from fetcher.tls import TlsSession


class Redirect(NamedTuple):
    """One redirect response, in the order received."""

    url: str
    status_code: int
    location: str


class ResponseFacts(NamedTuple):
    """The last response received, with the connection it came over."""

    url: str
    status_code: int
    reason: str
    http_version: str | None
    #: Raw header (name, value) pairs in the order received.
    headers: tuple[tuple[str, str], ...]
    body: Body
    peer: PinnedAddress | None
    port: int
    tls: TlsSession | None
    connect_ms: float | None
    ttfb_ms: float | None


class FetchOutcome(NamedTuple):
    """Everything one fetch produced, whether or not it succeeded."""

    requested_url: str
    final: ResponseFacts | None
    redirects: tuple[Redirect, ...]
    attempts: int
    error: FetchError | None
    not_modified: bool
    total_ms: float
    startup_ms: float | None
