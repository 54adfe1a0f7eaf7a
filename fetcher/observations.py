"""Turning the final response into the report's content facts and ``observations``.

HTML is parsed only when the response is HTML by its Content-Type, or when it has no useful
Content-Type and its first bytes look like HTML; and only the kept body is parsed.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple
from urllib.parse import urljoin, urlsplit

from fetcher.body import Body
from fetcher.content import content_disposition, media_type, refresh_target, select_headers
from fetcher.download import judge_download
from fetcher.outcome import ResponseFacts
from fetcher.page import PageFacts

#: Seconds the HTML parser may spend on one page before its findings are reported as they are.
PARSE_BUDGET_SECONDS = 2.0
#: Media types parsed as HTML.
HTML_MEDIA_TYPES = frozenset({"text/html", "application/xhtml+xml"})
#: Media types that say nothing about the content, so the body is sniffed for HTML.
UNINFORMATIVE_MEDIA_TYPES = frozenset({"application/octet-stream", "application/unknown"})
#: Body bytes examined when sniffing for HTML, a charset declaration, or executable magic.
SNIFF_BYTES = 1024
#: Body encoding used when neither a byte order mark, the header nor a meta tag names one.
FALLBACK_CHARSET = "utf-8"

#: Byte order marks and the charsets they announce (UTF-8 first; UTF-16's mark is shorter).
BYTE_ORDER_MARKS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16le"),
    (b"\xfe\xff", "utf-16be"),
)
# Tags whose appearance first in a document makes it HTML (WHATWG MIME sniffing, section 7.1).
_HTML_SIGNATURE = re.compile(
    rb"<(?:!doctype html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p"
    rb"|!--)[ >]",
    re.IGNORECASE,
)
# <meta charset=...> or <meta http-equiv=content-type content="...; charset=...">.
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([a-z0-9_.:-]+)""", re.IGNORECASE)
# Hosts spelled as IPv4 numbers in any of the forms inet_aton accepts (dotted, hex, octal).
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?")


class Analysis(NamedTuple):
    """The report's content facts and observations for one fetch."""

    headers: dict[str, str]
    content_type: str | None
    charset: str | None
    title: str | None
    observations: dict[str, Any]


def analyse(final: ResponseFacts | None, *, requested_url: str) -> Analysis:
    """Describe the final response, or only the requested URL's host when there is none."""
    if final is None:
        return Analysis(
            headers={},
            content_type=None,
            charset=None,
            title=None,
            observations=_observations(
                page_url=requested_url, headers={}, body=None, page=PageFacts()
            ),
        )
    headers = select_headers(final.headers)
    content_type, declared_charset = media_type(headers.get("content-type"))
    page = PageFacts()
    charset = declared_charset
    if final.body.decoded and _is_html(content_type, final.body.kept):
        text, charset = _decode(final.body.kept, declared=declared_charset)
        # Imported here: most fetches that are not HTML never pay for the parser.
        from fetcher.html import parse_page  # noqa: PLC0415

        page = parse_page(text, page_url=final.url, budget_seconds=PARSE_BUDGET_SECONDS)
    return Analysis(
        headers=headers,
        content_type=content_type,
        charset=charset,
        title=page.title,
        observations=_observations(page_url=final.url, headers=headers, body=final.body, page=page),
    )


def _observations(
    *, page_url: str, headers: dict[str, str], body: Body | None, page: PageFacts
) -> dict[str, Any]:
    meta_refresh = page.meta_refresh
    refresh_header = refresh_target(headers.get("refresh"))
    if meta_refresh is None and refresh_header is not None:
        meta_refresh = _join(page_url, refresh_header)
    return {
        "forms": [form.as_report() for form in page.forms],
        "scripts": {
            "inline_count": page.inline_scripts,
            "external_count": page.external_scripts,
            "external_hosts": sorted(page.script_hosts),
        },
        "iframes": {"count": page.iframes, "hosts": sorted(page.iframe_hosts)},
        "meta_refresh": meta_refresh,
        "script_redirects": list(page.script_redirects),
        "download": _download(headers, body),
        "mixed_content": list(page.mixed_content),
        "host": host_facts(page_url),
        "links": {
            "count": page.links,
            "external_hosts": sorted(page.link_hosts),
            "targets": list(page.link_targets.values()),
        },
    }


def _download(headers: dict[str, str], body: Body | None) -> dict[str, Any]:
    disposition = content_disposition(headers.get("content-disposition"))
    facts = judge_download(
        attachment=disposition.attachment,
        filename=disposition.filename,
        media_type=media_type(headers.get("content-type"))[0],
        body_start=b"" if body is None else body.kept[:SNIFF_BYTES],
    )
    return facts._asdict()


def host_facts(url: str) -> dict[str, Any]:
    """Say whether ``url``'s host is an IP literal or an internationalised (punycode) name."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        host = ""
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        host = host.lower()
    ip_literal = ":" in host or bool(_NUMERIC_HOST.fullmatch(host))
    punycode = any(label.startswith("xn--") for label in host.split("."))
    unicode_host = None
    if punycode:
        try:
            unicode_host = host.encode("ascii").decode("idna")
        except UnicodeError:
            unicode_host = None
    return {"ip_literal": ip_literal, "punycode": punycode, "unicode": unicode_host}


def _is_html(content_type: str | None, body: bytes) -> bool:
    if content_type in HTML_MEDIA_TYPES:
        return True
    if content_type is not None and content_type not in UNINFORMATIVE_MEDIA_TYPES:
        return False
    start = body[:SNIFF_BYTES]
    for mark, _charset in BYTE_ORDER_MARKS:
        start = start.removeprefix(mark)
    return bool(_HTML_SIGNATURE.match(start.lstrip(b" \t\n\r\x0c") + b" "))


def _decode(body: bytes, *, declared: str | None) -> tuple[str, str | None]:
    """Decode the page: a byte order mark wins, then the header's charset, then a meta tag."""
    for mark, marked in BYTE_ORDER_MARKS:
        if body.startswith(mark):
            return body[len(mark) :].decode(marked, errors="replace"), marked
    charset = declared
    if charset is None:
        match = _META_CHARSET.search(body[:SNIFF_BYTES])
        charset = match.group(1).decode("ascii").lower() if match else None
    if charset is not None:
        try:
            return body.decode(charset, errors="replace"), charset
        except (LookupError, UnicodeError):
            # Unknown or non-text codecs ("rot13", "idna" with replace) fall back below.
            pass
    return body.decode(FALLBACK_CHARSET, errors="replace"), charset


def _join(base: str, reference: str) -> str | None:
    try:
        return urljoin(base, reference)
    except ValueError:
        return None
