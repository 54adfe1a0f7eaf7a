"""Reading the response headers the report cares about: which to keep, and what they declare."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import unquote

#: Response headers copied into the report, by lower-case name.
REPORTED_HEADERS = (
    "content-type",
    "content-length",
    "content-encoding",
    "content-disposition",
    "server",
    "location",
    "etag",
    "last-modified",
    "cache-control",
    "retry-after",
    "refresh",
    "strict-transport-security",
    "content-security-policy",
    "x-frame-options",
)
#: Report key holding how many Set-Cookie headers came back (their values are not reported).
SET_COOKIE_COUNT = "set-cookie-count"

# One "; name=value" parameter, the value a token or a quoted string.
_PARAMETER = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
# The URL part of a Refresh value such as "5; url='https://example.test/'".
_REFRESH_URL = re.compile(
    r"""^\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?(['"]?)(.*?)\1\s*$""", re.I | re.S
)


class ContentDisposition(NamedTuple):
    """Whether the response asks to be saved as a file, and under which name."""

    attachment: bool
    filename: str | None


def select_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Return the reported headers, lower-case names, repeated values joined with ", "."""
    collected: dict[str, list[str]] = {}
    cookies = 0
    for name, value in items:
        key = name.lower()
        if key == "set-cookie":
            cookies += 1
        elif key in REPORTED_HEADERS:
            collected.setdefault(key, []).append(value.strip())
    selected = {key: ", ".join(collected[key]) for key in REPORTED_HEADERS if key in collected}
    if cookies:
        selected[SET_COOKIE_COUNT] = str(cookies)
    return selected


def media_type(content_type: str | None) -> tuple[str | None, str | None]:
    """Split a Content-Type value into its lower-case media type and charset parameter."""
    if not content_type:
        return None, None
    essence, _, _ = content_type.partition(";")
    essence = essence.strip().lower()
    charset = _parameters(content_type).get("charset")
    return (essence if "/" in essence else None), (charset.lower() if charset else None)


def content_disposition(value: str | None) -> ContentDisposition:
    """Parse Content-Disposition, preferring the RFC 8187 ``filename*`` over ``filename``."""
    if not value:
        return ContentDisposition(attachment=False, filename=None)
    disposition = value.partition(";")[0].strip().lower()
    parameters = _parameters(value)
    filename = _extended_value(parameters.get("filename*")) or parameters.get("filename")
    return ContentDisposition(attachment=disposition == "attachment", filename=filename or None)


def refresh_target(value: str | None) -> str | None:
    """Return the URL a Refresh header or meta refresh ``content`` points to, if any."""
    if not value:
        return None
    match = _REFRESH_URL.match(value)
    target = match.group(2).strip() if match else ""
    return target or None


def _parameters(value: str) -> dict[str, str]:
    _, _, rest = value.partition(";")
    parameters: dict[str, str] = {}
    for name, raw in _PARAMETER.findall(";" + rest):
        text = raw.strip()
        if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        parameters.setdefault(name.lower(), text)
    return parameters


def _extended_value(value: str | None) -> str | None:
    """Decode an RFC 8187 value such as ``UTF-8''na%C3%AFve.exe``."""
    if not value:
        return None
    parts = value.split("'", 2)
    if len(parts) != 3:
        return unquote(value, errors="replace")
    charset, _language, encoded = parts
    try:
        return unquote(encoded, encoding=charset or "utf-8", errors="replace")
    except LookupError:
        return unquote(encoded, errors="replace")
