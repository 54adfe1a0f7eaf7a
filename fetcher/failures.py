"""Turning what the socket, TLS and HTTP layers raise into the fetch's reported errors.

This is the one place that decides which error code a low-level failure becomes; exceptions
not listed here are bugs and propagate.
"""

from __future__ import annotations

import errno
import http.client
import ssl

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

#: What every failure the fetch path can raise is caught as.
TRANSPORT_FAILURES = (OSError, http.client.HTTPException)


def failure_for(error: OSError | http.client.HTTPException, *, url: str) -> FetchError:
    """Return the reported error for a socket, TLS or HTTP failure while fetching ``url``."""
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
    if error.errno in UNREACHABLE_ERRNOS:
        return Unreachable(f"unreachable: {message}", url=url)
    return ConnectionFailed(f"connection failed: {message}", url=url)
