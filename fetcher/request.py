"""The request head the fetcher sends, written out as bytes.

The fetcher only ever sends ``GET`` with a handful of headers it chooses itself, so it writes
the request line and headers directly instead of loading :mod:`http.client` (and the
``email`` package behind it) before the first byte can leave: those load while the request
is already on its way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fetcher.urls import DEFAULT_PORTS, Target

if TYPE_CHECKING:
    from fetcher.options import FetchOptions

#: Accept header: what a browser would ask for, so servers answer as they would to a victim.
ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
#: Content codings the fetcher can decode within the body cap.
ACCEPT_ENCODING = "gzip, deflate"


def printable_ascii(text: str) -> bool:
    """Whether ``text`` may go into a request line or header as it is: no controls, no CR/LF."""
    return all(" " <= character <= "~" for character in text)


def host_header(target: Target) -> str:
    """The Host header of a request to ``target``: the port only when it is not the default."""
    host = f"[{target.host}]" if ":" in target.host else target.host
    if target.port == DEFAULT_PORTS[target.scheme]:
        return host
    return f"{host}:{target.port}"


def request_headers(options: FetchOptions) -> list[tuple[str, str]]:
    """The headers of every request of a fetch, conditional ones included."""
    headers = [
        ("User-Agent", options.user_agent),
        ("Accept", ACCEPT),
        ("Accept-Encoding", ACCEPT_ENCODING),
        ("Connection", "close"),
    ]
    if options.if_none_match is not None:
        headers.append(("If-None-Match", options.if_none_match))
    if options.if_modified_since is not None:
        headers.append(("If-Modified-Since", options.if_modified_since))
    return headers


def request_head(target: Target, headers: Sequence[tuple[str, str]]) -> bytes:
    """The ``GET`` request line, Host and ``headers``, ending with the blank line.

    Raises ValueError for a header that would split or corrupt the request: every part
    must be printable ASCII (the path is percent-encoded by :func:`~fetcher.urls.parse_target`).
    """
    lines = [f"GET {target.request_target} HTTP/1.1", f"Host: {host_header(target)}"]
    lines += [f"{name}: {value}" for name, value in headers]
    for line in lines:
        if not printable_ascii(line):
            raise ValueError(f"not printable ASCII in the request: {line!r}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
