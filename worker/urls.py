"""Checking a URL before it is accepted for scanning."""

from __future__ import annotations

from urllib.parse import urlsplit

from worker.errors import InvalidURL

#: Longest URL accepted; longer ones are almost always junk or abuse.
MAX_URL_LENGTH = 2048
#: Schemes the fetcher speaks.
ALLOWED_SCHEMES = frozenset({"http", "https"})


def validate_url(url: str) -> str:
    """Return ``url`` stripped of surrounding white space, or raise ``InvalidURL`` saying why."""
    candidate = url.strip()
    if not candidate:
        raise InvalidURL(url, "empty")
    if len(candidate) > MAX_URL_LENGTH:
        raise InvalidURL(url, f"longer than {MAX_URL_LENGTH} characters")
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in candidate):
        raise InvalidURL(url, "contains white space or control characters")
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
    return candidate
