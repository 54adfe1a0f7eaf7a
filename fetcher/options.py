"""The fetcher's settings: one typed object, built once from the command line and passed in."""

from __future__ import annotations

import argparse
import email.utils
import ipaddress
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, BinaryIO, NamedTuple, NoReturn

from fetcher.addresses import IPNetwork
from fetcher.ports import DEFAULT_ALLOWED_PORTS, PortPolicy, parse_port_policy

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

#: Deadline for the whole fetch, redirects and retries included.
DEFAULT_TIMEOUT_MS = 20_000
#: Deadline for one TCP connect plus TLS handshake, never more than what remains of the total.
DEFAULT_CONNECT_TIMEOUT_MS = 5_000
#: Longest wait for any single read, never more than what remains of the total.
DEFAULT_READ_TIMEOUT_MS = 10_000
#: Redirects followed before the fetch stops with ``redirect_limit``.
DEFAULT_MAX_REDIRECTS = 5
#: Decoded body bytes kept; the read stops there and the body is reported truncated.
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
#: Extra attempts after a 408, 429 or retryable 5xx response.
DEFAULT_RETRIES = 2
#: The User-Agent header sent with every request.
DEFAULT_USER_AGENT = "scanbox-fetcher/0.1"

#: Longest first line ``--url-stdin`` accepts (scanbox's URLs are at most 2,048 characters).
MAX_STDIN_URL_BYTES = 8192
#: The option that makes the fetcher read its URL from stdin (a container made before its URL).
URL_STDIN = "--url-stdin"

#: Exit status for bad arguments; 0 is reserved for "printed a result".
USAGE_EXIT_STATUS = 2


class FetchOptions(NamedTuple):
    """Limits and policy for one fetch; defaults match the command line's."""

    timeout_ms: int = DEFAULT_TIMEOUT_MS
    connect_timeout_ms: int = DEFAULT_CONNECT_TIMEOUT_MS
    read_timeout_ms: int = DEFAULT_READ_TIMEOUT_MS
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    retries: int = DEFAULT_RETRIES
    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_ports: PortPolicy = parse_port_policy(DEFAULT_ALLOWED_PORTS)
    ca_file: str | None = None
    user_agent: str = DEFAULT_USER_AGENT
    if_none_match: str | None = None
    if_modified_since: str | None = None

    @property
    def conditional(self) -> bool:
        """Whether requests carry a validator, so a 304 means "not modified"."""
        return self.if_none_match is not None or self.if_modified_since is not None


class Invocation(NamedTuple):
    """What the command line asked for: the URL and the options to fetch it with."""

    url: str
    options: FetchOptions


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one stderr line and whose help stays off stdout.

    Stdout carries exactly one JSON object or nothing, so the caller can parse it blindly.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_EXIT_STATUS, f"{self.prog}: error: {' '.join(message.split())}\n")

    def print_help(self, file: SupportsWrite[str] | None = None) -> None:
        super().print_help(sys.stderr if file is None else file)


def parse_invocation(argv: Sequence[str], *, stdin: BinaryIO | None = None) -> Invocation:
    """Turn ``argv`` (without the program name) into an :class:`Invocation`.

    With ``--url-stdin`` the URL is the first line of ``stdin`` (default: the process's).
    On bad arguments this prints one line to stderr and exits with status 2.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.url_stdin:
        if args.url is not None:
            parser.error(f"give the URL as an argument or with {URL_STDIN}, not both")
        args.url = _read_url(parser, sys.stdin.buffer if stdin is None else stdin)
    elif args.url is None:
        parser.error("the following arguments are required: URL")
    options = FetchOptions(
        timeout_ms=args.timeout_ms,
        connect_timeout_ms=args.connect_timeout_ms,
        read_timeout_ms=args.read_timeout_ms,
        max_redirects=args.max_redirects,
        max_body_bytes=args.max_body_bytes,
        retries=args.retries,
        allowed_networks=tuple(args.allow_network),
        allowed_ports=args.allowed_ports,
        ca_file=args.ca_file,
        user_agent=args.user_agent,
        if_none_match=args.if_none_match,
        if_modified_since=args.if_modified_since,
    )
    return Invocation(url=args.url, options=options)


def _build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="python3 -m fetcher",
        description="Fetch one untrusted URL safely and print one JSON object describing it.",
    )
    parser.add_argument("url", metavar="URL", nargs="?", help="http or https URL to fetch")
    parser.add_argument(
        URL_STDIN,
        action="store_true",
        help="read the URL from the first line of standard input instead",
    )
    parser.add_argument("--timeout-ms", type=_positive_int, default=DEFAULT_TIMEOUT_MS)
    parser.add_argument(
        "--connect-timeout-ms", type=_positive_int, default=DEFAULT_CONNECT_TIMEOUT_MS
    )
    parser.add_argument("--read-timeout-ms", type=_positive_int, default=DEFAULT_READ_TIMEOUT_MS)
    parser.add_argument("--max-redirects", type=_non_negative_int, default=DEFAULT_MAX_REDIRECTS)
    parser.add_argument("--max-body-bytes", type=_non_negative_int, default=DEFAULT_MAX_BODY_BYTES)
    parser.add_argument("--retries", type=_non_negative_int, default=DEFAULT_RETRIES)
    parser.add_argument(
        "--allow-network",
        metavar="CIDR",
        type=_network,
        action="append",
        default=[],
        help="network allowed despite the blocklist (repeatable)",
    )
    parser.add_argument(
        "--allowed-ports",
        metavar="SPEC",
        type=_port_policy,
        default=parse_port_policy(DEFAULT_ALLOWED_PORTS),
        help=f"'any' or ports and ranges like 80,443,8000-8999 (default {DEFAULT_ALLOWED_PORTS})",
    )
    parser.add_argument("--ca-file", metavar="PATH", type=_readable_file, default=None)
    parser.add_argument("--user-agent", type=_header_value, default=DEFAULT_USER_AGENT)
    parser.add_argument("--if-none-match", metavar="ETAG", type=_header_value, default=None)
    parser.add_argument("--if-modified-since", metavar="HTTPDATE", type=_http_date, default=None)
    return parser


def _read_url(parser: argparse.ArgumentParser, stdin: BinaryIO) -> str:
    line = stdin.readline(MAX_STDIN_URL_BYTES + 1)
    if len(line) > MAX_STDIN_URL_BYTES:
        parser.error(f"the URL on standard input is longer than {MAX_STDIN_URL_BYTES} bytes")
    try:
        url = line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        parser.error("the URL on standard input is not UTF-8")
    if not url:
        parser.error("no URL on standard input")
    return url


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than zero")
    return value


def _non_negative_int(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative integer")
    return int(text)


def _network(text: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _port_policy(text: str) -> PortPolicy:
    try:
        return parse_port_policy(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _readable_file(text: str) -> str:
    if not os.path.isfile(text) or not os.access(text, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text!r} is not a readable file")
    return text


def _header_value(text: str) -> str:
    # Printable ASCII only: anything else would either be rejected by http.client mid-fetch
    # or, with CR/LF, split the request.
    if not all(" " <= character <= "~" for character in text):
        raise argparse.ArgumentTypeError(f"{text!r} contains characters not allowed in a header")
    return text


def _http_date(text: str) -> str:
    text = _header_value(text)
    try:
        email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not an HTTP date") from None
    return text
