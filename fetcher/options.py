"""The fetcher's settings: one typed object, built once from the command line and passed in.

The command line is parsed with :mod:`getopt`: long options with a value (``--name value`` or
``--name=value``), ``--`` before a URL that starts with a dash, ``-h``/``--help``. argparse
would do the same with its help formatter and message catalogues, which cost about a tenth
of the fetcher's start-up before its first request.
"""

from __future__ import annotations

import getopt
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO, NamedTuple, NoReturn

from fetcher.addresses import IPNetwork, parse_network
from fetcher.ports import DEFAULT_ALLOWED_PORTS, PortPolicy, parse_port_policy
from fetcher.request import printable_ascii

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
#: The program as usage and error lines name it.
PROG = "python3 -m fetcher"


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
    #: The egress proxy's Unix socket: every connection goes through it, nothing is resolved.
    proxy_socket: str | None = None

    @property
    def conditional(self) -> bool:
        """Whether requests carry a validator, so a 304 means "not modified"."""
        return self.if_none_match is not None or self.if_modified_since is not None


class Invocation(NamedTuple):
    """What the command line asked for: the URL and the options to fetch it with."""

    url: str
    options: FetchOptions


class _Option(NamedTuple):
    """An option that takes a value: the FetchOptions field it sets and how it is read."""

    field: str
    metavar: str
    convert: Callable[[str], Any]
    help: str


def parse_invocation(argv: Sequence[str], *, stdin: BinaryIO | None = None) -> Invocation:
    """Turn ``argv`` (without the program name) into an :class:`Invocation`.

    With ``--url-stdin`` the URL is the first line of ``stdin`` (default: the process's).
    On bad arguments this prints one line to stderr and exits with status 2; ``--help``
    prints the help to stderr (stdout carries reports only) and exits with status 0.
    """
    try:
        pairs, positional = getopt.gnu_getopt(list(argv), "h", _LONG_OPTIONS)
    except getopt.GetoptError as error:
        _usage_error(str(error))
    fields: dict[str, Any] = {}
    networks: list[IPNetwork] = []
    url_stdin = False
    for name, text in pairs:
        if name in ("-h", "--help"):
            sys.stderr.write(help_text())
            raise SystemExit(0)
        if name == URL_STDIN:
            url_stdin = True
            continue
        option = OPTIONS[name]
        try:
            value = option.convert(text)
        except ValueError as error:
            _usage_error(f"argument {name}: {error}")
        if name == ALLOW_NETWORK:
            networks.append(value)
        else:
            fields[option.field] = value
    if len(positional) > 1:
        _usage_error(f"unrecognized arguments: {' '.join(positional[1:])}")
    url = positional[0] if positional else None
    if url_stdin:
        if url is not None:
            _usage_error(f"give the URL as an argument or with {URL_STDIN}, not both")
        url = _read_url(sys.stdin.buffer if stdin is None else stdin)
    elif url is None:
        _usage_error("the following arguments are required: URL")
    return Invocation(url=url, options=FetchOptions(**fields, allowed_networks=tuple(networks)))


def help_text() -> str:
    """What ``--help`` prints."""
    lines = [
        f"usage: {PROG} [options] [--] URL",
        f"       {PROG} [options] {URL_STDIN}",
        "",
        "Fetch one untrusted URL safely and print one JSON object describing it.",
        "",
        "options:",
        f"  {URL_STDIN:30} read the URL from the first line of standard input instead",
    ]
    for name, option in OPTIONS.items():
        lines.append(f"  {name + ' ' + option.metavar:30} {option.help}")
    lines.append(f"  {'-h, --help':30} show this help and exit")
    return "\n".join(lines) + "\n"


def _usage_error(message: str) -> NoReturn:
    sys.stderr.write(f"{PROG}: error: {' '.join(message.split())}\n")
    raise SystemExit(USAGE_EXIT_STATUS)


def _read_url(stdin: BinaryIO) -> str:
    line = stdin.readline(MAX_STDIN_URL_BYTES + 1)
    if len(line) > MAX_STDIN_URL_BYTES:
        _usage_error(f"the URL on standard input is longer than {MAX_STDIN_URL_BYTES} bytes")
    try:
        url = line.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        _usage_error("the URL on standard input is not UTF-8")
    if not url:
        _usage_error("no URL on standard input")
    return url


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise ValueError(f"{text!r} must be greater than zero")
    return value


def _non_negative_int(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"{text!r} is not a non-negative integer")
    return int(text)


def _readable_file(text: str) -> str:
    if not os.path.isfile(text) or not os.access(text, os.R_OK):
        raise ValueError(f"{text!r} is not a readable file")
    return text


def _socket_path(text: str) -> str:
    if not text or not printable_ascii(text):
        raise ValueError(f"{text!r} is not a socket path")
    return text


def _header_value(text: str) -> str:
    # Printable ASCII only: anything else could not be sent, and CR/LF would split the request.
    if not printable_ascii(text):
        raise ValueError(f"{text!r} contains characters not allowed in a header")
    return text


def _http_date(text: str) -> str:
    import email.utils  # noqa: PLC0415 (only for a conditional request, off the common path)

    text = _header_value(text)
    try:
        email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not an HTTP date") from None
    return text


#: The option that may be given more than once, each adding a network.
ALLOW_NETWORK = "--allow-network"

#: Every option that takes a value, in the order ``--help`` lists them.
OPTIONS = {
    "--timeout-ms": _Option(
        field="timeout_ms",
        metavar="MS",
        convert=_positive_int,
        help=f"deadline for the whole fetch (default {DEFAULT_TIMEOUT_MS})",
    ),
    "--connect-timeout-ms": _Option(
        field="connect_timeout_ms",
        metavar="MS",
        convert=_positive_int,
        help=f"deadline for one connect and TLS handshake (default {DEFAULT_CONNECT_TIMEOUT_MS})",
    ),
    "--read-timeout-ms": _Option(
        field="read_timeout_ms",
        metavar="MS",
        convert=_positive_int,
        help=f"longest wait for any one read (default {DEFAULT_READ_TIMEOUT_MS})",
    ),
    "--max-redirects": _Option(
        field="max_redirects",
        metavar="N",
        convert=_non_negative_int,
        help=f"redirects followed (default {DEFAULT_MAX_REDIRECTS})",
    ),
    "--max-body-bytes": _Option(
        field="max_body_bytes",
        metavar="N",
        convert=_non_negative_int,
        help=f"decoded body bytes kept (default {DEFAULT_MAX_BODY_BYTES})",
    ),
    "--retries": _Option(
        field="retries",
        metavar="N",
        convert=_non_negative_int,
        help=f"extra attempts after a 408, 429 or 5xx (default {DEFAULT_RETRIES})",
    ),
    ALLOW_NETWORK: _Option(
        field="allowed_networks",
        metavar="CIDR",
        convert=parse_network,
        help="network allowed despite the blocklist (repeatable)",
    ),
    "--allowed-ports": _Option(
        field="allowed_ports",
        metavar="SPEC",
        convert=parse_port_policy,
        help=f"'any' or ports and ranges like 80,443,8000-8999 (default {DEFAULT_ALLOWED_PORTS})",
    ),
    "--ca-file": _Option(
        field="ca_file",
        metavar="PATH",
        convert=_readable_file,
        help="CA certificates (PEM) trusted besides the system's",
    ),
    "--user-agent": _Option(
        field="user_agent",
        metavar="TEXT",
        convert=_header_value,
        help=f"User-Agent header (default {DEFAULT_USER_AGENT})",
    ),
    "--if-none-match": _Option(
        field="if_none_match",
        metavar="ETAG",
        convert=_header_value,
        help="ask for the page only if its ETag changed",
    ),
    "--proxy-socket": _Option(
        field="proxy_socket",
        metavar="PATH",
        convert=_socket_path,
        help="connect only through the egress proxy on this Unix socket",
    ),
    "--if-modified-since": _Option(
        field="if_modified_since",
        metavar="HTTPDATE",
        convert=_http_date,
        help="ask for the page only if it changed since this date",
    ),
}
#: :func:`getopt.gnu_getopt`'s spelling of the options: a value is marked by "=".
_LONG_OPTIONS = [name[2:] + "=" for name in OPTIONS] + [URL_STDIN[2:], "help"]
