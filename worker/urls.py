"""Checking a URL before it is accepted for scanning, and its normalised form for matching.

A host must be an IP address or a name valid under UTS 46 (IDNA 2008 with the mapping
browsers use, non-transitional): an international name is checked and converted to its ASCII
form, and a label already in that form (``xn--…``) must decode. Bidi controls, which can make
a URL read differently from what it is, are refused anywhere in it, as are control characters.
"""

from __future__ import annotations

import ipaddress
import re
import string
from urllib.parse import urlsplit, urlunsplit

import idna

from worker.errors import InvalidURL

#: Longest URL accepted; longer ones are almost always junk or abuse.
MAX_URL_LENGTH = 2048
#: Schemes the fetcher speaks.
ALLOWED_SCHEMES = frozenset({"http", "https"})
#: The port each scheme uses when a URL names none; naming it changes nothing.
DEFAULT_PORTS = {"http": 80, "https": 443}

#: Longest host name (RFC 1035), and longest label of one.
MAX_HOST_LENGTH = 253
#: An ASCII label as hosts use them: letters, digits, hyphens inside, and the underscores some
#: real hosts have.
_ASCII_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
#: Bidi embeddings, overrides, isolates and marks, and the C1 controls: never in a URL.
_BIDI_OR_C1 = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\x80-\x9f]")

#: Characters a percent-escape never needs to hide (RFC 3986 section 2.3).
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


def validate_url(url: str) -> str:
    """Return ``url`` stripped of surrounding white space, or raise ``InvalidURL`` saying why."""
    candidate = url.strip()
    if not candidate:
        raise InvalidURL(url, "empty")
    if len(candidate) > MAX_URL_LENGTH:
        raise InvalidURL(url, f"longer than {MAX_URL_LENGTH} characters")
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in candidate):
        raise InvalidURL(url, "contains white space or control characters")
    if _BIDI_OR_C1.search(candidate):
        raise InvalidURL(url, "contains bidi or C1 control characters")
    try:
        parts = urlsplit(candidate)
        port = parts.port
    except ValueError as error:
        raise InvalidURL(url, str(error)) from error
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise InvalidURL(url, "scheme must be http or https")
    if not parts.hostname:
        raise InvalidURL(url, "no host")
    if port == 0:
        raise InvalidURL(url, "port 0")
    if parts.username is not None or parts.password is not None:
        raise InvalidURL(url, "credentials in URLs are not accepted")
    reason = host_problem(parts.hostname)
    if reason is not None:
        raise InvalidURL(url, reason)
    return candidate


def host_problem(host: str) -> str | None:
    """Why ``host`` (as ``urlsplit`` gives it) can't be scanned, or ``None``."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return None
    name = host.rstrip(".")
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except idna.IDNAError as error:
            return f"host is not a valid international name (UTS 46): {error}"
    if len(name) > MAX_HOST_LENGTH:
        return f"host is longer than {MAX_HOST_LENGTH} characters"
    for label in name.lower().split("."):
        if not _ASCII_LABEL.fullmatch(label):
            return f"host label {label[:63]!r} is not a valid name"
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except idna.IDNAError:
                return f"host label {label[:63]!r} is not valid punycode (UTS 46)"
    return None


def host_key(host: str) -> str:
    """``host`` (a name, or an IP address with or without brackets) as ``url_host`` spells it."""
    return _normalise_host(host.strip().removeprefix("[").removesuffix("]"))


def url_host(url: str) -> str:
    """The host ``url`` targets, in the one spelling per-host limits are keyed on."""
    return _normalise_host(urlsplit(url).hostname or "")


def normalise_url(url: str) -> str:
    """The form of ``url`` that deduplication and conditional re-scans compare.

    Equivalent spellings of one resource become one string (RFC 3986 section 6.2.2): scheme
    and host in lower case (international hosts in their ASCII form, no trailing dot), the
    default port dropped, escapes of unreserved characters decoded and the others in upper
    case, ``.`` and ``..`` segments resolved, an empty path made ``/``, and the fragment
    dropped, since it never reaches the server. The query keeps its order: servers may care.
    Raises ``InvalidURL`` for a URL ``validate_url`` refuses.
    """
    return _normalised(validate_url(url))


def checked_url(url: str) -> tuple[str, str]:
    """``validate_url(url)`` and its normalised form, checking the URL once."""
    candidate = validate_url(url)
    return candidate, _normalised(candidate)


def _normalised(candidate: str) -> str:
    """The normal form of a URL ``validate_url`` returned."""
    parts = urlsplit(candidate)
    scheme = parts.scheme.lower()
    host = _normalise_host(parts.hostname or "")
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None and parts.port != DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{parts.port}"
    path = _remove_dot_segments(_normalise_escapes(parts.path)) or "/"
    return urlunsplit((scheme, netloc, path, _normalise_escapes(parts.query), ""))


def _normalise_host(host: str) -> str:
    host = host.lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        return host


def _normalise_escapes(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        character = chr(int(match.group(1), 16))
        return character if character in _UNRESERVED else f"%{match.group(1).upper()}"

    return _ESCAPE.sub(one, text)


def _remove_dot_segments(path: str) -> str:
    segments = path.split("/")
    kept: list[str] = []
    for index, segment in enumerate(segments):
        if segment not in (".", ".."):
            kept.append(segment)
            continue
        if segment == ".." and len(kept) > 1:
            kept.pop()
        if index == len(segments) - 1:
            kept.append("")  # "/a/." and "/a/b/.." name the directory: keep the slash
    return "/".join(kept)
