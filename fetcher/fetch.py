"""Fetching one URL: redirects, retries, deadlines and the bounded body read.

Each hop is checked the same way: :func:`~fetcher.urls.parse_target` (scheme and port),
:func:`~fetcher.resolution.resolve_checked` (one resolution, every address checked), then a
connection pinned to the checked addresses. Through the egress proxy (``--proxy-socket``)
a name is not resolved here: the proxy resolves and checks it, and the connection checks
the address the proxy reports; an IP address is still checked before anything connects.
Every failure becomes the outcome's ``error``; the last response received, if any, is kept
alongside it.

What only a response needs (:mod:`http.client`, :mod:`ssl` for plain http, the body and
retry rules) is imported where it is first used, so the first request leaves before it loads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urljoin

from fetcher.connection import PinnedConnection, SocketOpener, open_socket, verifying_context
from fetcher.deadline import Deadline
from fetcher.errors import (
    BadUrl,
    FetchError,
    RedirectLimit,
)
from fetcher.failures import failure_for, is_transport_failure
from fetcher.options import FetchOptions
from fetcher.outcome import FetchOutcome, Redirect, ResponseFacts
from fetcher.request import request_head, request_headers
from fetcher.resolution import (
    Hop,
    Resolver,
    check_hop,
    system_resolver,
)
from fetcher.startup import process_age
from fetcher.urls import Target

if TYPE_CHECKING:
    import http.client
    import ssl

    from fetcher.proxy import ProxyTunnel, UnixOpener

#: Statuses whose Location is followed.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Milliseconds per second, for the report's timings.
MILLISECONDS = 1000.0


def fetch(
    url: str,
    *,
    options: FetchOptions,
    resolver: Resolver = system_resolver,
    opener: SocketOpener = open_socket,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    wall_clock: Callable[[], float] = time.time,
    process_age: Callable[[], float | None] = process_age,
    proxy_opener: UnixOpener | None = None,
) -> FetchOutcome:
    """Fetch ``url`` under ``options`` and say what happened; never raises a FetchError.

    ``resolver``, ``opener`` (or, through the egress proxy, ``proxy_opener``), the clocks
    and ``sleep`` are the fetch's only ways to reach the outside world, so tests can replace
    each of them.
    """
    tunnel = None
    if options.proxy_socket is not None:
        from fetcher.proxy import ProxyTunnel, open_unix_socket  # noqa: PLC0415 (proxy only)

        tunnel = ProxyTunnel(
            socket_path=options.proxy_socket,
            allowed_networks=options.allowed_networks,
            opener=proxy_opener or open_unix_socket,
        )
    run = _FetchRun(
        options=options,
        resolver=resolver,
        opener=opener,
        tunnel=tunnel,
        clock=clock,
        sleep=sleep,
        wall_clock=wall_clock,
        process_age=process_age,
    )
    return run.run(url)


class _Exchange(NamedTuple):
    """A request sent and a response whose headers have arrived, body still unread."""

    hop: Hop
    connection: PinnedConnection
    response: http.client.HTTPResponse
    connect_ms: float | None
    ttfb_ms: float


class _Retry(NamedTuple):
    """Ask for the same hop again after ``delay`` seconds."""

    delay: float


class _FetchRun:
    """The state of one fetch: deadline, attempts so far, redirects seen, last response."""

    def __init__(
        self,
        *,
        options: FetchOptions,
        resolver: Resolver,
        opener: SocketOpener,
        tunnel: ProxyTunnel | None,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        wall_clock: Callable[[], float],
        process_age: Callable[[], float | None],
    ) -> None:
        self._options = options
        self._resolver = resolver
        self._opener = opener
        self._tunnel = tunnel
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._process_age = process_age
        self._deadline = Deadline(clock=clock, seconds=options.timeout_ms / MILLISECONDS)
        self._tls_context: ssl.SSLContext | None = None
        self._attempts = 0
        self._retries = 0
        self._redirects: list[Redirect] = []
        self._final: ResponseFacts | None = None
        self._startup_ms: float | None = None

    def run(self, url: str) -> FetchOutcome:
        """Fetch ``url`` and return the outcome, whatever happened."""
        error: FetchError | None = None
        try:
            self._follow(url)
        except FetchError as failure:
            error = failure
        final = self._final
        return FetchOutcome(
            requested_url=url,
            final=final,
            redirects=tuple(self._redirects),
            attempts=self._attempts,
            error=error,
            not_modified=(
                final is not None and final.status_code == 304 and self._options.conditional
            ),
            total_ms=self._deadline.elapsed() * MILLISECONDS,
            startup_ms=self._startup_ms,
        )

    def _follow(self, url: str) -> None:
        hop = self._prepare(url)
        while True:
            exchange = self._exchange(hop)
            try:
                step = self._decide(exchange)
            finally:
                # Closing the response as well as the connection really closes the socket,
                # which is how a truncated read stops the server from sending more.
                exchange.response.close()
                exchange.connection.close()
            if step is None:
                return
            if isinstance(step, _Retry):
                self._retries += 1
                self._sleep(step.delay)
            else:
                hop = step

    def _prepare(self, url: str) -> Hop:
        return check_hop(
            url,
            allowed_ports=self._options.allowed_ports,
            allowed_networks=self._options.allowed_networks,
            resolver=self._resolver,
            through_proxy=self._tunnel is not None,
            deadline=self._deadline,
        )

    def _decide(self, exchange: _Exchange) -> Hop | _Retry | None:
        """Follow a redirect, schedule a retry, or read the body of the final response."""
        from fetcher.retry import RETRYABLE_STATUSES, retry_delay  # noqa: PLC0415 (module doc)

        response = exchange.response
        location = response.getheader("location")
        if response.status in REDIRECT_STATUSES and location is not None:
            return self._redirect(exchange, location.strip())
        if response.status in RETRYABLE_STATUSES and self._retries < self._options.retries:
            delay = retry_delay(
                retry_after=response.getheader("retry-after"),
                retry_number=self._retries + 1,
                now=self._wall_clock(),
            )
            # Only wait if there is time left to ask again afterwards.
            if delay < self._deadline.remaining():
                return _Retry(delay=delay)
        self._finish(exchange)
        return None

    def _redirect(self, exchange: _Exchange, location: str) -> Hop:
        url = exchange.hop.target.url
        self._redirects.append(
            Redirect(url=url, status_code=exchange.response.status, location=location)
        )
        try:
            if len(self._redirects) > self._options.max_redirects:
                raise RedirectLimit(
                    f"more than {self._options.max_redirects} redirects", url=location
                )
            try:
                next_url = urljoin(url, location)
            except ValueError as error:
                raise BadUrl(f"the Location cannot be parsed: {error}", url=location) from None
            return self._prepare(next_url)
        except FetchError:
            # The redirect response is the last one received; report it with its body.
            self._finish(exchange)
            raise

    def _exchange(self, hop: Hop) -> _Exchange:
        """Connect to the pinned addresses, send the request and read the response headers."""
        connection = self._connection(hop)
        self._attempts += 1
        try:
            connection.connect()
            sent_at = self._clock()
            connection.send(request_head(hop.target, request_headers(self._options)))
            if self._startup_ms is None:
                age = self._process_age()
                self._startup_ms = None if age is None else age * MILLISECONDS
            response = connection.getresponse()
            ttfb_ms = (self._clock() - sent_at) * MILLISECONDS
        except Exception as error:
            if not is_transport_failure(error):
                raise
            connection.close()
            raise failure_for(error, url=hop.target.url) from None
        connect_seconds = connection.connect_seconds
        return _Exchange(
            hop=hop,
            connection=connection,
            response=response,
            connect_ms=None if connect_seconds is None else connect_seconds * MILLISECONDS,
            ttfb_ms=ttfb_ms,
        )

    def _connection(self, hop: Hop) -> PinnedConnection:
        target = hop.target
        return PinnedConnection(
            host=target.host,
            addresses=hop.addresses,
            deadline=self._deadline,
            connect_timeout=self._options.connect_timeout_ms / MILLISECONDS,
            read_timeout=self._options.read_timeout_ms / MILLISECONDS,
            context=self._https_context(target) if target.scheme == "https" else None,
            opener=self._opener,
            clock=self._clock,
            tunnel=self._tunnel,
            port=target.port,
            url=target.url,
        )

    def _https_context(self, target: Target) -> ssl.SSLContext:
        """The verifying TLS context, made once per fetch and only if a hop uses https."""
        if self._tls_context is None:
            self._tls_context = verifying_context(self._options.ca_file, url=target.url)
        return self._tls_context

    def _finish(self, exchange: _Exchange) -> None:
        """Stream the body into the cap and record this as the final response.

        A failure part-way keeps the partial body in the report and is raised afterwards.
        """
        from fetcher.response import read_final  # noqa: PLC0415 (module doc)

        self._final, failure = read_final(
            exchange.response,
            connection=exchange.connection,
            target=exchange.hop.target,
            max_body_bytes=self._options.max_body_bytes,
            connect_ms=exchange.connect_ms,
            ttfb_ms=exchange.ttfb_ms,
        )
        if failure is not None:
            raise failure
