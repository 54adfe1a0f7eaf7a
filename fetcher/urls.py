"""Which URLs may be fetched, and what to connect to and request for each one.

Every URL, the requested one and each redirect target, goes through :func:`parse_target`
before anything is resolved or connected.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple
from urllib.parse import quote, urlsplit, urlunsplit

from fetcher.errors import BadUrl, Blocked
from fetcher.ports import MAX_PORT, PortPolicy

#: The only schemes fetched, with the port each uses when the URL names none.
DEFAULT_PORTS = {"http": 80, "https": 443}

#: Longest label of a host name (RFC 1035).
MAX_LABEL = 63
#: Characters left as they are in a request path; everything else is percent-encoded.
PATH_SAFE = "/%:@!$&'()*+,;=-._~"
#: Characters left as they are in a query string.
QUERY_SAFE = PATH_SAFE + "?"

# A registered name after IDNA encoding: letters, digits, hyphen, underscore, dots.
_HOST_NAME = re.compile(r"[a-z0-9_.-]+")
# C0 controls and DEL: never valid in a URL. Spaces are percent-encoded in the path and
# query (servers do send them in Location) and refused in the host by _HOST_NAME.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Target(NamedTuple):
    """A checked http(s) URL split into what the connection and the request line need."""

    #: The URL as fetched: fragment and credentials dropped, path and query percent-encoded.
    url: str
    scheme: str
    #: ASCII host, lower-case, without IPv6 brackets; also what the Host header and SNI carry.
    host: str
    port: int
    #: Path and query for the request line.
    request_target: str


def parse_target(url: str, *, allowed_ports: PortPolicy) -> Target:
    """Check ``url`` against scheme and port policy and split it into a :class:`Target`.

    Raises BadUrl when it is not a fetchable http(s) URL, Blocked when its port is not allowed.
    """
    stripped = url.strip()
    if _CONTROL.search(stripped):
        raise BadUrl("the URL contains control characters", url=url)
    try:
        parts = urlsplit(stripped)
        explicit_port = parts.port
    except ValueError as error:
        raise BadUrl(f"the URL cannot be parsed: {error}", url=url) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise BadUrl(f"scheme {scheme or '(none)'!r} is not http or https", url=url)
    host = _ascii_host(parts.hostname, url=url)
    port = DEFAULT_PORTS[scheme] if explicit_port is None else explicit_port
    if not 1 <= port <= MAX_PORT:
        raise BadUrl(f"port {port} is not a TCP port", url=url)
    if not allowed_ports.allows(port):
        raise Blocked(f"port {port} is not in the allowed ports", url=url)
    path = quote(parts.path or "/", safe=PATH_SAFE)
    query = quote(parts.query, safe=QUERY_SAFE)
    request_target = f"{path}?{query}" if query else path
    netloc = f"[{host}]" if ":" in host else host
    if explicit_port is not None and explicit_port != DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{explicit_port}"
    return Target(
        url=urlunsplit((scheme, netloc, path, query, "")),
        scheme=scheme,
        host=host,
        port=port,
        request_target=request_target,
    )


def _ascii_host(hostname: str | None, *, url: str) -> str:
    """Return the host as sent on the wire, IDNA-encoding a Unicode name."""
    if not hostname:
        raise BadUrl("the URL has no host", url=url)
    if ":" in hostname:
        # Only a bracketed IPv6 literal yields a colon; older urlsplit does not validate it.
        try:
            return str(ipaddress.IPv6Address(hostname))
        except ValueError:
            raise BadUrl(f"host [{hostname}] is not an IPv6 address", url=url) from None
    if hostname.isascii():
        # The checks the idna codec makes of an ASCII name, without loading it (its stringprep
        # and Unicode tables cost more than the rest of the URL checks).
        ascii_host = hostname.lower()
        labels = ascii_host.split(".")
        if not all(0 < len(label) <= MAX_LABEL for label in labels[:-1]) or (
            len(labels[-1]) > MAX_LABEL
        ):
            raise BadUrl(f"host {hostname!r} has an empty or too long label", url=url)
    else:
        try:
            ascii_host = hostname.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise BadUrl(f"host {hostname!r} is not a valid international name", url=url) from None
    if not _HOST_NAME.fullmatch(ascii_host):
        raise BadUrl(f"host {hostname!r} contains characters not allowed in a name", url=url)
    return ascii_host
