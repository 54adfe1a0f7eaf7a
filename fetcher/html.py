"""What an HTML page contains that matters to a scan: forms, scripts, frames, redirects, links.

:func:`parse_page` runs :class:`html.parser.HTMLParser` over the kept, decoded body in slices,
and stops when its time budget runs out: the standard parser has inputs that make it slow,
and a page must not be able to hold the fetcher hostage.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from fetcher.bounds import MAX_LIST_ITEMS
from fetcher.content import refresh_target
from fetcher.page import FormFacts, PageFacts

#: Characters handed to the parser at a time; the time budget is checked between slices.
PARSE_SLICE_CHARS = 64 * 1024
#: Leftover unparsed text beyond which the parser is not asked to flush it at the end: that
#: flush is where older Pythons go quadratic on unterminated markup, and the tail holds no tags.
MAX_FLUSHED_LEFTOVER_CHARS = 64 * 1024
#: Most characters of one inline script searched for redirects.
MAX_SCRIPT_SCAN_CHARS = 256 * 1024

# Assignments to location / location.href and calls to location.replace() / .assign()
# with a string literal; "==" comparisons are not assignments.
_SCRIPT_REDIRECT = re.compile(
    r"""\blocation(?:\.href)?\s*=(?!=)\s*(['"`])(.*?)\1"""
    r"""|\blocation\.(?:replace|assign)\s*\(\s*(['"`])(.*?)\3"""
)
_FRAME_TAGS = frozenset({"iframe", "frame"})
_LINK_TAGS = frozenset({"a", "area"})


def parse_page(
    text: str,
    *,
    page_url: str,
    budget_seconds: float,
    clock: Callable[[], float] = time.monotonic,
) -> PageFacts:
    """Parse ``text``, the page fetched from ``page_url``, within ``budget_seconds``."""
    parser = _ObservationParser(page_url=page_url)
    give_up_at = clock() + budget_seconds
    for start in range(0, len(text), PARSE_SLICE_CHARS):
        if clock() > give_up_at:
            parser.facts.complete = False
            return parser.facts
        parser.feed(text[start : start + PARSE_SLICE_CHARS])
    if len(parser.rawdata) <= MAX_FLUSHED_LEFTOVER_CHARS:
        parser.close()
    return parser.facts


def host_of(url: str | None) -> str | None:
    """Return the lower-case host of an http(s) URL, or None for anything else."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return host.lower()


def origin_of(url: str) -> tuple[str, str | None, int | None]:
    """Return (scheme, host, port) of ``url``, with the scheme's default port filled in."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ("", None, None)
    scheme = parts.scheme.lower()
    default = {"http": 80, "https": 443}.get(scheme)
    return (scheme, host_of(url), default if port is None else port)


class _ObservationParser(HTMLParser):
    """Collects :class:`PageFacts` while the standard parser walks the markup."""

    def __init__(self, *, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.facts = PageFacts()
        self._page_url = page_url
        self._base_url = page_url
        self._base_seen = False
        self._page_host = host_of(page_url)
        self._page_origin = origin_of(page_url)
        self._secure_page = self._page_origin[0] == "https"
        self._form: FormFacts | None = None
        self._title_parts: list[str] | None = None
        self._script_parts: list[str] | None = None
        self._script_chars = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "base" and not self._base_seen and attributes.get("href"):
            self._base_seen = True
            self._base_url = self._resolve(attributes["href"]) or self._base_url
        elif tag == "title" and self.facts.title is None and self._title_parts is None:
            self._title_parts = []
        elif tag == "script":
            self._start_script(attributes)
        elif tag in _FRAME_TAGS:
            self.facts.iframes += 1
            self._record_host(self.facts.iframe_hosts, self._subresource(attributes.get("src")))
        elif tag == "img":
            self._subresource(attributes.get("src"))
        elif tag == "link" and "stylesheet" in attributes.get("rel", "").lower().split():
            self._subresource(attributes.get("href"))
        elif tag in _LINK_TAGS and "href" in attributes:
            self._link(attributes["href"])
        elif tag == "form":
            self._start_form(attributes)
        elif tag == "input" and attributes.get("type", "").strip().lower() == "password":
            if self._form is not None:
                self._form.has_password = True
        elif tag == "meta" and attributes.get("http-equiv", "").strip().lower() == "refresh":
            self._meta_refresh(attributes.get("content"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._title_parts is not None:
            self.facts.title = " ".join("".join(self._title_parts).split())
            self._title_parts = None
        elif tag == "script" and self._script_parts is not None:
            self._scan_script("".join(self._script_parts))
            self._script_parts = None
        elif tag == "form":
            self._form = None

    def handle_data(self, data: str) -> None:
        if self._title_parts is not None:
            self._title_parts.append(data)
        if self._script_parts is not None and self._script_chars < MAX_SCRIPT_SCAN_CHARS:
            self._script_parts.append(data)
            self._script_chars += len(data)

    def close(self) -> None:
        super().close()
        # An unclosed <title> still names the page, as it does in a browser.
        if self._title_parts is not None:
            self.handle_endtag("title")

    def _start_script(self, attributes: dict[str, str]) -> None:
        source = attributes.get("src", "").strip()
        if source:
            self.facts.external_scripts += 1
            self._record_host(self.facts.script_hosts, self._subresource(source))
        else:
            self.facts.inline_scripts += 1
            self._script_parts = []
            self._script_chars = 0

    def _start_form(self, attributes: dict[str, str]) -> None:
        action = attributes.get("action", "").strip() or None
        # A form without an action submits to the page itself.
        target = self._page_url if action is None else self._subresource(action)
        origin = origin_of(target) if target else ("", None, None)
        self._form = FormFacts(
            action=target if action is not None else None,
            action_host=host_of(target),
            method="post" if attributes.get("method", "").strip().lower() == "post" else "get",
            cross_origin=origin != self._page_origin,
            insecure_action=origin[0] == "http",
        )
        if len(self.facts.forms) < MAX_LIST_ITEMS:
            self.facts.forms.append(self._form)

    def _meta_refresh(self, content: str | None) -> None:
        target = refresh_target(content)
        if self.facts.meta_refresh is None and target is not None:
            self.facts.meta_refresh = self._resolve(target)

    def _link(self, href: str) -> None:
        self.facts.links += 1
        url = self._resolve(href)
        host = host_of(url)
        if url is None or host is None:
            return
        if host != self._page_host:
            self.facts.link_hosts.add(host)
        origin = origin_of(url)
        targets = self.facts.link_targets
        if origin != self._page_origin and origin not in targets and len(targets) < MAX_LIST_ITEMS:
            targets[origin] = url

    def _subresource(self, reference: str | None) -> str | None:
        """Resolve a subresource URL, noting it as mixed content when it is http on https."""
        url = self._resolve(reference) if reference else None
        if (
            url is not None
            and self._secure_page
            and url.partition(":")[0].lower() == "http"
            and url not in self.facts.mixed_content
            and len(self.facts.mixed_content) < MAX_LIST_ITEMS
        ):
            self.facts.mixed_content.append(url)
        return url

    def _scan_script(self, script: str) -> None:
        for match in _SCRIPT_REDIRECT.finditer(script[:MAX_SCRIPT_SCAN_CHARS]):
            literal = match.group(2) if match.group(1) else match.group(4)
            target = self._resolve(literal) if literal else None
            redirects = self.facts.script_redirects
            if target and target not in redirects and len(redirects) < MAX_LIST_ITEMS:
                redirects.append(target)

    def _resolve(self, reference: str) -> str | None:
        try:
            return urljoin(self._base_url, reference.strip())
        except ValueError:
            return None

    @staticmethod
    def _record_host(hosts: set[str], url: str | None) -> None:
        host = host_of(url)
        if host is not None:
            hosts.add(host)
