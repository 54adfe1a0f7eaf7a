"""Reading the final response of a fetch: its body streamed into the cap, and its facts.

Imported only once a response has arrived (:mod:`fetcher.fetch`'s module doc says why).
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from fetcher.body import BodyCollector
from fetcher.errors import ConnectionFailed, FetchError, ProtocolViolation
from fetcher.failures import failure_for, is_transport_failure
from fetcher.outcome import ResponseFacts

if TYPE_CHECKING:
    import http.client

    from fetcher.connection import PinnedConnection
    from fetcher.urls import Target

#: Bytes asked of the connection per read while streaming the body.
READ_CHUNK_BYTES = 64 * 1024
#: http.client's numeric protocol versions, as reported.
HTTP_VERSIONS = {10: "HTTP/1.0", 11: "HTTP/1.1"}


def read_final(
    response: http.client.HTTPResponse,
    *,
    connection: PinnedConnection,
    target: Target,
    max_body_bytes: int,
    connect_ms: float | None,
    ttfb_ms: float,
) -> tuple[ResponseFacts, FetchError | None]:
    """The response's facts with its body read into the cap, and the failure that cut it short.

    A failure part-way keeps the partial body, marked truncated; the caller raises it.
    """
    collector = BodyCollector(
        max_bytes=max_body_bytes, content_encoding=response.getheader("content-encoding")
    )
    url = target.url
    failure: FetchError | None = None
    try:
        while chunk := response.read1(READ_CHUNK_BYTES):
            if not collector.feed(chunk):
                break
        else:
            if response.length:
                failure = ConnectionFailed(
                    f"the connection closed {response.length} bytes before the body ended",
                    url=url,
                )
    except zlib.error as error:
        failure = ProtocolViolation(f"the body could not be decoded: {error}", url=url)
    except Exception as error:
        if not is_transport_failure(error):
            raise
        failure = failure_for(error, url=url)
    if failure is not None:
        collector.truncated = True
    facts = ResponseFacts(
        url=url,
        status_code=response.status,
        reason=response.reason,
        http_version=HTTP_VERSIONS.get(response.version),
        headers=tuple(response.getheaders()),
        body=collector.result(),
        peer=connection.peer,
        port=target.port,
        tls=connection.tls_session,
        connect_ms=connect_ms,
        ttfb_ms=ttfb_ms,
    )
    return facts, failure
