"""Why a fetch stopped short: one exception base, one subclass per reported error code.

Every failure the fetcher reports is a :class:`FetchError`; its ``code`` is the value that
appears in the JSON ``error.code`` field, so catching ``FetchError`` catches everything a fetch
can report::

    FetchError
    ├── BadUrl            bad_url          not an http(s) URL with a host
    ├── Blocked           blocked          address, port or scheme refused by policy
    ├── DnsFailed         dns              the name did not resolve
    ├── Refused           refused          the peer actively refused the connection
    ├── Unreachable       unreachable      no route to the peer
    ├── TimedOut          timeout          a connect, read or total deadline passed
    ├── TlsFailed         tls              handshake or certificate verification failed
    ├── RedirectLimit     redirect_limit   more redirects than allowed
    ├── ProtocolViolation protocol         the peer did not speak HTTP/1.x as expected
    └── ConnectionFailed  connection       the connection broke for another reason

Anything else escaping the fetcher is a bug, not a result.
"""

from __future__ import annotations


class FetchError(Exception):
    """A fetch failure that is reported as the result's ``error`` rather than raised further."""

    #: The machine-readable error code; each subclass sets its own.
    code = "connection"

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.message = message
        self.url = url


class BadUrl(FetchError):
    """The URL (requested or redirected to) cannot be fetched: wrong scheme, no host, bad port."""

    code = "bad_url"


class Blocked(FetchError):
    """Policy refused the target: a blocked address category or a port outside the allow-list."""

    code = "blocked"


class DnsFailed(FetchError):
    """The host name did not resolve to any address."""

    code = "dns"


class Refused(FetchError):
    """The peer refused the TCP connection."""

    code = "refused"


class Unreachable(FetchError):
    """The network or host is unreachable from inside the container."""

    code = "unreachable"


class TimedOut(FetchError):
    """A connect, read or total deadline passed."""

    code = "timeout"


class TlsFailed(FetchError):
    """The TLS handshake failed, including certificate and host name verification."""

    code = "tls"


class RedirectLimit(FetchError):
    """The target redirected more times than ``--max-redirects`` allows."""

    code = "redirect_limit"


class ProtocolViolation(FetchError):
    """The peer's response was not valid HTTP/1.x, or its body could not be decoded."""

    code = "protocol"


class ConnectionFailed(FetchError):
    """The connection was reset or closed, or failed in a way no other code describes."""

    code = "connection"
