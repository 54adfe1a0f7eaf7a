"""Turning what the socket, TLS and HTTP layers raise into the fetch's reported errors.

This is the one place that decides which error code a low-level failure becomes; exceptions
not listed here are bugs and propagate. :mod:`http.client` and :mod:`ssl` are imported only
when a failure is classified: a request goes out before either has to load.
"""

from __future__ import annotations

import errno
import sys

from fetcher.errors import (
    ConnectionFailed,
    FetchError,
    ProtocolViolation,
    Refused,
    TimedOut,
    TlsFailed,
    Unreachable,
)

#: OS errors that mean no route to the peer rather than a broken connection.
UNREACHABLE_ERRNOS = frozenset(
    {
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.ENETDOWN,
        errno.EHOSTDOWN,
        errno.EADDRNOTAVAIL,
        errno.EAFNOSUPPORT,
    }
)


def is_transport_failure(error: BaseException) -> bool:
    """Whether ``error`` is a socket, TLS or HTTP failure (anything else is a bug)."""
    if isinstance(error, OSError):
        return True
    # An http.client error can only have been raised once http.client was loaded.
    client = sys.modules.get("http.client")
    return client is not None and isinstance(error, client.HTTPException)


def failure_for(error: BaseException, *, url: str) -> FetchError:
    """Return the reported error for a transport failure (:func:`is_transport_failure`)."""
    import http.client  # noqa: PLC0415 (only on the failure path; module doc)
    import ssl  # noqa: PLC0415 (the same)

    message = str(error) or type(error).__name__
    # Order matters: SSLError and the http.client errors are also OSErrors.
    if isinstance(error, ssl.SSLError | ssl.CertificateError):
        return TlsFailed(f"TLS failed: {message}", url=url)
    if isinstance(error, TimeoutError):
        return TimedOut(f"timed out: {message}", url=url)
    if isinstance(error, http.client.RemoteDisconnected):
        return ConnectionFailed(f"the server closed the connection: {message}", url=url)
    if isinstance(error, http.client.IncompleteRead):
        return ConnectionFailed(f"the body ended early: {message}", url=url)
    if isinstance(error, http.client.HTTPException):
        return ProtocolViolation(f"not a valid HTTP/1.x response: {message}", url=url)
    if isinstance(error, ConnectionRefusedError):
        return Refused(f"connection refused: {message}", url=url)
    if isinstance(error, OSError) and error.errno in UNREACHABLE_ERRNOS:
        return Unreachable(f"unreachable: {message}", url=url)
    return ConnectionFailed(f"connection failed: {message}", url=url)
