"""Why a capture stopped short, in the fetcher's vocabulary of error codes.

Chromium reports a failed navigation as a ``net::ERR_...`` name; :func:`error_code` sorts
each into one of the codes of :mod:`fetcher.errors`, so both modes report failures alike.
A capture that ran out of time is ``timeout`` whatever the page was doing.
"""

from __future__ import annotations

import re

from fetcher.errors import (
    BadUrl,
    Blocked,
    ConnectionFailed,
    DnsFailed,
    ProtocolViolation,
    RedirectLimit,
    Refused,
    TimedOut,
    TlsFailed,
    Unreachable,
)

#: Chromium's net error names → error codes; names not listed are ``connection``.
NET_ERROR_CODES = {
    "ERR_NAME_NOT_RESOLVED": DnsFailed.code,
    "ERR_NAME_RESOLUTION_FAILED": DnsFailed.code,
    "ERR_CONNECTION_REFUSED": Refused.code,
    # The proxy refused the CONNECT: the egress policy said no.
    "ERR_TUNNEL_CONNECTION_FAILED": Blocked.code,
    "ERR_BLOCKED_BY_CLIENT": Blocked.code,
    "ERR_BLOCKED_BY_RESPONSE": Blocked.code,
    "ERR_ACCESS_DENIED": Blocked.code,
    "ERR_UNSAFE_PORT": Blocked.code,
    "ERR_UNSAFE_REDIRECT": Blocked.code,
    "ERR_ADDRESS_UNREACHABLE": Unreachable.code,
    "ERR_NETWORK_UNREACHABLE": Unreachable.code,
    "ERR_INTERNET_DISCONNECTED": Unreachable.code,
    "ERR_PROXY_CONNECTION_FAILED": Unreachable.code,
    "ERR_TIMED_OUT": TimedOut.code,
    "ERR_CONNECTION_TIMED_OUT": TimedOut.code,
    "ERR_TOO_MANY_REDIRECTS": RedirectLimit.code,
    "ERR_INVALID_RESPONSE": ProtocolViolation.code,
    "ERR_EMPTY_RESPONSE": ProtocolViolation.code,
    "ERR_INVALID_HTTP_RESPONSE": ProtocolViolation.code,
    "ERR_INVALID_URL": BadUrl.code,
    "ERR_INVALID_REDIRECT": BadUrl.code,
    "ERR_DISALLOWED_URL_SCHEME": BadUrl.code,
}
#: The code of a capture that reached its deadline.
TIMEOUT_CODE = TimedOut.code

_NET_ERROR = re.compile(r"net::(ERR_[A-Z0-9_]+)")


def net_error(message: str) -> str | None:
    """The ``ERR_...`` name in a Chromium or Playwright error message, if there is one."""
    found = _NET_ERROR.search(message)
    return None if found is None else found.group(1)


def error_code(message: str) -> str:
    """The error code for a failed navigation whose error message is ``message``."""
    name = net_error(message)
    if name is None:
        return ConnectionFailed.code
    if name.startswith(("ERR_CERT_", "ERR_SSL_")) or name in ("ERR_BAD_SSL_CLIENT_AUTH_CERT",):
        return TlsFailed.code
    return NET_ERROR_CODES.get(name, ConnectionFailed.code)
