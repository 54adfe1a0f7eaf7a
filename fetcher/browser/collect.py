"""What is taken from the page once the capture window closes: screenshot, DOM, title, text,
favicon, cookies and the main document's TLS facts.

Each step runs under its own bound within what is left of the deadline, and a step that does not
finish in time is reported missing rather than waited for: a page stuck in a script loop still
gets a report, with whatever the browser process itself can tell (cookies, requests).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, TypeVar
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

from playwright.async_api import BrowserContext, Error, Page, Response

from fetcher.browser.options import BrowserOptions
from fetcher.browser.png import png_size
from fetcher.deadline import Deadline

#: Longest wait for a page to answer a trivial script; a page that does not is unresponsive
#: and nothing that needs its renderer is tried.
PROBE_TIMEOUT_S = 1.5
#: Longest any one collection step may take.
STEP_TIMEOUT_S = 10.0
#: Longest cookie value kept.
MAX_COOKIE_VALUE_CHARS = 256
#: Most cookies reported.
MAX_COOKIES = 200

T = TypeVar("T")

#: Script that reads what the report needs from the page in one round trip: its title, the
#: start of its visible text, its icon links and its full height.
_PAGE_FACTS = """(maxText) => {
  const body = document.body;
  const text = body ? body.innerText.slice(0, maxText) : "";
  const icons = Array.from(document.querySelectorAll("link[rel]"))
    .filter((link) => link.rel.toLowerCase().split(/\\s+/).includes("icon"))
    .map((link) => link.href).filter((href) => typeof href === "string").slice(0, 5);
  const root = document.documentElement;
  const height = Math.max(root ? root.scrollHeight : 0, body ? body.scrollHeight : 0);
  return {title: String(document.title), text: text, icons: icons, height: height};
}"""


class Favicon(NamedTuple):
    """The page's icon: where it came from, its type and its bytes."""

    url: str
    media_type: str | None
    data: bytes


class Collected(NamedTuple):
    """What collection got; ``missing`` names each step that did not finish, with why."""

    title: str | None
    text: str | None
    screenshot: bytes | None
    screenshot_size: tuple[int, int] | None
    dom: bytes | None
    dom_truncated: bool
    favicon: Favicon | None
    cookies: list[dict[str, Any]]
    tls: dict[str, Any] | None
    missing: dict[str, str]


async def _bounded(step: Callable[[], Awaitable[T]], *, deadline: Deadline, limit_s: float) -> T:
    # The bound is taken before the step starts: with nothing left, it never starts.
    timeout_s = deadline.bound(limit_s)
    return await asyncio.wait_for(step(), timeout_s)


async def collect(
    *,
    open_page: Callable[[], Awaitable[Page]],
    context: BrowserContext,
    page: Page,
    main_response: Response | None,
    options: BrowserOptions,
    deadline: Deadline,
) -> Collected:
    """Take what the report needs from ``page`` before ``deadline``."""
    missing: dict[str, str] = {}
    facts: dict[str, Any] = {}
    screenshot = dom = None
    size = None
    dom_truncated = False
    favicon = None
    responsive = main_response is not None
    if responsive:
        try:
            facts = await _bounded(
                lambda: page.evaluate(_PAGE_FACTS, options.max_text_chars),
                deadline=deadline,
                limit_s=PROBE_TIMEOUT_S,
            )
        except (TimeoutError, Error) as error:
            responsive = False
            missing["page"] = _why(error)
    if responsive:
        try:
            screenshot = await _bounded(
                lambda: _screenshot(page, options=options, height=int(facts.get("height") or 0)),
                deadline=deadline,
                limit_s=STEP_TIMEOUT_S,
            )
            if len(screenshot) > options.max_screenshot_bytes:
                missing["screenshot"] = "too_large"
                screenshot = None
            else:
                size = png_size(screenshot)
        except (TimeoutError, Error, ValueError) as error:
            missing["screenshot"] = _why(error)
        try:
            html = await _bounded(page.content, deadline=deadline, limit_s=STEP_TIMEOUT_S)
            encoded = html.encode("utf-8", "replace")
            dom_truncated = len(encoded) > options.max_dom_bytes
            dom = _cut_utf8(encoded, options.max_dom_bytes)
        except (TimeoutError, Error) as error:
            missing["dom"] = _why(error)
        try:
            favicon = await _bounded(
                lambda: _favicon(open_page, page, facts, options=options),
                deadline=deadline,
                limit_s=STEP_TIMEOUT_S,
            )
        except (TimeoutError, Error) as error:
            missing["favicon"] = _why(error)
    else:
        missing.setdefault("page", "no_document")
    cookies: list[dict[str, Any]] = []
    try:
        cookies = _cookies(
            await _bounded(context.cookies, deadline=deadline, limit_s=STEP_TIMEOUT_S)
        )
    except (TimeoutError, Error) as error:
        missing["cookies"] = _why(error)
    tls = None
    if main_response is not None:
        try:
            details = await _bounded(
                main_response.security_details, deadline=deadline, limit_s=STEP_TIMEOUT_S
            )
            tls = None if details is None else dict(details)
        except (TimeoutError, Error) as error:
            missing["tls"] = _why(error)
    return Collected(
        title=facts.get("title"),
        text=facts.get("text"),
        screenshot=screenshot,
        screenshot_size=size,
        dom=dom,
        dom_truncated=dom_truncated,
        favicon=favicon,
        cookies=cookies,
        tls=tls,
        missing=missing,
    )


async def _screenshot(page: Page, *, options: BrowserOptions, height: int) -> bytes:
    """A full-page PNG, cut at ``max_screenshot_height``."""
    clip_height = max(1, min(height or options.viewport_height, options.max_screenshot_height))
    return await page.screenshot(
        type="png",
        full_page=True,
        clip={"x": 0, "y": 0, "width": options.viewport_width, "height": clip_height},
        animations="disabled",
        caret="hide",
        timeout=STEP_TIMEOUT_S * 1000,
    )


async def _favicon(
    open_page: Callable[[], Awaitable[Page]],
    page: Page,
    facts: dict[str, Any],
    *,
    options: BrowserOptions,
) -> Favicon | None:
    """The icon the page links to, or its origin's ``/favicon.ico``, loaded through the proxy
    in a page of the capture's own (left out of the request log)."""
    icons = [str(icon) for icon in facts.get("icons") or [] if isinstance(icon, str)]
    scheme = urlsplit(page.url).scheme
    if not icons and scheme in ("http", "https"):
        icons = [urljoin(page.url, "/favicon.ico")]
    for url in icons:
        if url.startswith("data:"):
            return _data_icon(url, max_bytes=options.max_favicon_bytes)
        if urlsplit(url).scheme not in ("http", "https"):
            continue
        loader = await open_page()
        try:
            response = await loader.goto(url, timeout=STEP_TIMEOUT_S * 1000)
            if response is None or not response.ok:
                continue
            body = await response.body()
            if len(body) > options.max_favicon_bytes:
                continue
            return Favicon(url=url, media_type=response.headers.get("content-type"), data=body)
        except Error:
            continue
        finally:
            await loader.close()
    return None


def _data_icon(url: str, *, max_bytes: int) -> Favicon | None:
    """The icon in a ``data:`` URL, decoded."""
    header, _, payload = url[len("data:") :].partition(",")
    if len(payload) > 2 * max_bytes:
        return None
    media_type = header.split(";")[0] or None
    try:
        if header.endswith(";base64"):
            data = base64.b64decode(payload, validate=False)
        else:
            data = unquote_to_bytes(payload)
    except ValueError:
        return None
    if len(data) > max_bytes:
        return None
    return Favicon(url=url[:64], media_type=media_type, data=data)


def _cookies(cookies: list[Any]) -> list[dict[str, Any]]:
    kept = []
    for cookie in cookies[:MAX_COOKIES]:
        value = str(cookie.get("value", ""))
        kept.append(
            {
                "name": str(cookie.get("name", "")),
                "domain": str(cookie.get("domain", "")),
                "path": str(cookie.get("path", "")),
                "expires": cookie.get("expires"),
                "http_only": bool(cookie.get("httpOnly")),
                "secure": bool(cookie.get("secure")),
                "same_site": cookie.get("sameSite"),
                "value": value[:MAX_COOKIE_VALUE_CHARS],
                "value_sha256": hashlib.sha256(value.encode("utf-8", "replace")).hexdigest(),
            }
        )
    return kept


def _cut_utf8(data: bytes, limit: int) -> bytes:
    """``data`` cut to at most ``limit`` bytes, on a character boundary."""
    if len(data) <= limit:
        return data
    return data[:limit].decode("utf-8", "ignore").encode("utf-8")


def _why(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "deadline"
    if isinstance(error, ValueError):
        return "invalid"
    return "failed"
