"""The browser's settings: one typed object, built once from the command line and passed in.

Each bound on what a capture keeps is an option with a named default. The command line is
parsed with :mod:`argparse`: unlike the HTTP fetcher, whose start-up is a scan's main cost, the
browser spends its first second starting Playwright's driver and Chromium.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NamedTuple, NoReturn

from fetcher.browser.versions import chromium_binary

#: Deadline of one capture, from the moment its URL is known until the report is written.
DEFAULT_DEADLINE_MS = 30_000
#: Part of the deadline kept for collecting what the page did (screenshot, DOM, hashes).
DEFAULT_COLLECT_MS = 6_000
#: How long the capture keeps watching after the page loaded, for script and delayed
#: redirects; every navigation of the main frame starts the window again.
DEFAULT_WINDOW_MS = 4_000
#: Longest wait for Chromium to start.
DEFAULT_LAUNCH_TIMEOUT_MS = 20_000
#: Viewport of the page, in CSS pixels.
DEFAULT_VIEWPORT_WIDTH = 1280
DEFAULT_VIEWPORT_HEIGHT = 800
#: Tallest full-page screenshot; a longer page is cut at this height.
DEFAULT_MAX_SCREENSHOT_HEIGHT = 8_000
#: Largest screenshot kept, in bytes.
DEFAULT_MAX_SCREENSHOT_BYTES = 8 * 1024 * 1024
#: Largest DOM kept, in bytes of UTF-8; a larger one is cut and marked truncated.
DEFAULT_MAX_DOM_BYTES = 4 * 1024 * 1024
#: Largest HAR kept, in bytes; entries past it are left out and counted.
DEFAULT_MAX_HAR_BYTES = 4 * 1024 * 1024
#: Most requests recorded; later ones are counted, not recorded.
DEFAULT_MAX_REQUESTS = 500
#: Largest response body that is hashed; larger bodies are recorded with their size only.
DEFAULT_MAX_HASHED_BODY_BYTES = 16 * 1024 * 1024
#: Largest download kept on disk to hash; a larger one is cancelled.
DEFAULT_MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
#: Most downloads recorded.
DEFAULT_MAX_DOWNLOADS = 10
#: Most console messages recorded.
DEFAULT_MAX_CONSOLE_MESSAGES = 200
#: Characters of the page's visible text kept as its excerpt.
DEFAULT_MAX_TEXT_CHARS = 2_000
#: Largest favicon kept.
DEFAULT_MAX_FAVICON_BYTES = 256 * 1024
#: Most connections the relay to the egress proxy carries at once.
DEFAULT_MAX_CONNECTIONS = 64

#: Longest first line ``--url-stdin`` accepts (scanbox's URLs are at most 2,048 characters).
MAX_STDIN_URL_BYTES = 8192
#: Exit status for bad arguments; 0 is reserved for "printed a report".
USAGE_EXIT_STATUS = 2
#: The program as usage and error lines name it.
PROG = "python3 -m fetcher.browser"


class BrowserOptions(NamedTuple):
    """Limits and wiring of one capture; defaults match the command line's."""

    proxy_socket: str
    chromium: str = "/usr/lib/chromium/chromium-headless-shell"
    deadline_ms: int = DEFAULT_DEADLINE_MS
    collect_ms: int = DEFAULT_COLLECT_MS
    window_ms: int = DEFAULT_WINDOW_MS
    launch_timeout_ms: int = DEFAULT_LAUNCH_TIMEOUT_MS
    viewport_width: int = DEFAULT_VIEWPORT_WIDTH
    viewport_height: int = DEFAULT_VIEWPORT_HEIGHT
    max_screenshot_height: int = DEFAULT_MAX_SCREENSHOT_HEIGHT
    max_screenshot_bytes: int = DEFAULT_MAX_SCREENSHOT_BYTES
    max_dom_bytes: int = DEFAULT_MAX_DOM_BYTES
    max_har_bytes: int = DEFAULT_MAX_HAR_BYTES
    max_requests: int = DEFAULT_MAX_REQUESTS
    max_hashed_body_bytes: int = DEFAULT_MAX_HASHED_BODY_BYTES
    max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES
    max_downloads: int = DEFAULT_MAX_DOWNLOADS
    max_console_messages: int = DEFAULT_MAX_CONSOLE_MESSAGES
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
    max_favicon_bytes: int = DEFAULT_MAX_FAVICON_BYTES
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    ignore_tls_errors: bool = False
    user_agent: str | None = None


class Invocation(NamedTuple):
    """What the command line asked for: a URL (or to read it from stdin) and the options."""

    url: str | None
    url_stdin: bool
    options: BrowserOptions


def _positive_int(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def _printable(text: str) -> str:
    if not text.isascii() or not text.isprintable():
        raise argparse.ArgumentTypeError(f"{text!r} must be printable ASCII")
    return text


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{PROG}: error: {' '.join(message.split())}\n")
        raise SystemExit(USAGE_EXIT_STATUS)


#: Options that take a positive integer: (flag, BrowserOptions field, help).
_LIMITS = (
    ("--deadline-ms", "deadline_ms", "deadline of the whole capture"),
    ("--collect-ms", "collect_ms", "part of the deadline kept for collecting"),
    ("--window-ms", "window_ms", "watch this long after each load for script redirects"),
    ("--launch-timeout-ms", "launch_timeout_ms", "longest wait for Chromium to start"),
    ("--viewport-width", "viewport_width", "viewport width in CSS pixels"),
    ("--viewport-height", "viewport_height", "viewport height in CSS pixels"),
    ("--max-screenshot-height", "max_screenshot_height", "tallest screenshot, in pixels"),
    ("--max-screenshot-bytes", "max_screenshot_bytes", "largest screenshot kept"),
    ("--max-dom-bytes", "max_dom_bytes", "largest DOM kept"),
    ("--max-har-bytes", "max_har_bytes", "largest HAR kept"),
    ("--max-requests", "max_requests", "most requests recorded"),
    ("--max-hashed-body-bytes", "max_hashed_body_bytes", "largest body hashed"),
    ("--max-download-bytes", "max_download_bytes", "largest download hashed"),
    ("--max-downloads", "max_downloads", "most downloads recorded"),
    ("--max-console-messages", "max_console_messages", "most console messages recorded"),
    ("--max-text-chars", "max_text_chars", "characters of page text kept"),
    ("--max-favicon-bytes", "max_favicon_bytes", "largest favicon kept"),
    ("--max-connections", "max_connections", "most relayed connections at once"),
)


def _parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        description="Capture what one untrusted page does in Chromium; print one JSON report "
        "line, then the artifacts it declares.",
    )
    parser.add_argument("url", nargs="?", help="the URL to capture")
    parser.add_argument(
        "--url-stdin",
        action="store_true",
        help="start Chromium first, then read the URL from the first line of standard input",
    )
    parser.add_argument(
        "--proxy-socket",
        required=True,
        metavar="PATH",
        help="Unix socket of the egress proxy, the capture's only way out",
    )
    parser.add_argument("--chromium", metavar="PATH", help="Chromium binary to drive")
    defaults = BrowserOptions(proxy_socket="")
    for flag, field, text in _LIMITS:
        parser.add_argument(
            flag,
            dest=field,
            type=_positive_int,
            metavar="N",
            default=getattr(defaults, field),
            help=f"{text} (default {getattr(defaults, field)})",
        )
    parser.add_argument(
        "--ignore-tls-errors",
        action="store_true",
        help="render pages whose certificate does not verify (the TLS facts are kept)",
    )
    parser.add_argument("--user-agent", type=_printable, help="User-Agent header to send")
    return parser


def parse_invocation(argv: Sequence[str]) -> Invocation:
    """Turn ``argv`` (without the program name) into an :class:`Invocation`.

    On bad arguments this prints one line to stderr and exits with status 2.
    """
    parser = _parser()
    namespace = parser.parse_args(list(argv))
    if namespace.url_stdin and namespace.url is not None:
        parser.error("give the URL as an argument or with --url-stdin, not both")
    if not namespace.url_stdin and namespace.url is None:
        parser.error("the following arguments are required: url")
    if namespace.collect_ms >= namespace.deadline_ms:
        parser.error("--collect-ms must be less than --deadline-ms")
    fields = {field: getattr(namespace, field) for _, field, _ in _LIMITS}
    options = BrowserOptions(
        proxy_socket=namespace.proxy_socket,
        chromium=namespace.chromium or chromium_binary(),
        ignore_tls_errors=namespace.ignore_tls_errors,
        user_agent=namespace.user_agent,
        **fields,
    )
    return Invocation(url=namespace.url, url_stdin=namespace.url_stdin, options=options)


def read_url_line(line: bytes) -> str | None:
    """The URL in the first line read from stdin, or ``None`` when there is none usable."""
    if len(line) > MAX_STDIN_URL_BYTES:
        return None
    try:
        url = line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return None
    return url or None
