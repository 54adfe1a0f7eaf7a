"""Parsing the command line, the port allow-list, URLs and Retry-After, as pure functions."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from fetcher.errors import BadUrl, Blocked
from fetcher.options import OPTIONS, URL_STDIN, FetchOptions, parse_invocation
from fetcher.ports import parse_port_policy
from fetcher.retry import parse_retry_after, retry_delay
from fetcher.urls import parse_target

ANY = parse_port_policy("any")


def test_defaults_match_the_documented_command_line() -> None:
    invocation = parse_invocation(["http://example.test/"])

    assert invocation.url == "http://example.test/"
    assert invocation.options == FetchOptions()
    options = invocation.options
    assert (options.timeout_ms, options.connect_timeout_ms, options.read_timeout_ms) == (
        20_000,
        5_000,
        10_000,
    )
    assert (options.max_redirects, options.max_body_bytes, options.retries) == (5, 5 << 20, 2)
    assert options.allowed_networks == ()
    assert [
        port for port in (80, 443, 8080, 8443, 22, 8000) if options.allowed_ports.allows(port)
    ] == [
        80,
        443,
        8080,
        8443,
    ]
    assert options.user_agent == "scanbox-fetcher/0.1"
    assert not options.conditional


def test_every_option_is_parsed(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("pem")

    options = parse_invocation(
        [
            "https://example.test/",
            "--timeout-ms=3000",
            "--connect-timeout-ms",
            "1000",
            "--read-timeout-ms",
            "2000",
            "--max-redirects",
            "0",
            "--max-body-bytes",
            "1024",
            "--retries",
            "4",
            "--allow-network",
            "127.0.0.0/8",
            "--allow-network",
            "fd00::/8",
            "--allowed-ports",
            "80,8000-8999",
            "--ca-file",
            str(ca),
            "--user-agent",
            "test-agent/1",
            "--if-none-match",
            '"abc"',
            "--if-modified-since",
            "Wed, 21 Oct 2015 07:28:00 GMT",
        ]
    ).options

    assert options.timeout_ms == 3000
    assert options.connect_timeout_ms == 1000
    assert options.read_timeout_ms == 2000
    assert options.max_redirects == 0
    assert options.max_body_bytes == 1024
    assert options.retries == 4
    assert options.allowed_networks == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("fd00::/8"),
    )
    assert options.allowed_ports.allows(8500)
    assert not options.allowed_ports.allows(443)
    assert options.ca_file == str(ca)
    assert options.user_agent == "test-agent/1"
    assert options.if_none_match == '"abc"'
    assert options.if_modified_since == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert options.conditional


def test_the_url_may_follow_a_double_dash_whatever_it_starts_with() -> None:
    invocation = parse_invocation(["--retries", "1", "--", "-not-an-option"])

    assert invocation.url == "-not-an-option"
    assert invocation.options.retries == 1


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["http://a.test/", "--timeout-ms", "0"],
        ["http://a.test/", "--timeout-ms", "-5"],
        ["http://a.test/", "--retries", "two"],
        ["http://a.test/", "--allow-network", "10.0.0.1/8"],
        ["http://a.test/", "--allow-network", "not-a-network"],
        ["http://a.test/", "--allowed-ports", "0"],
        ["http://a.test/", "--allowed-ports", "90-80"],
        ["http://a.test/", "--allowed-ports", "80,,443"],
        ["http://a.test/", "--ca-file", "/nonexistent/ca.pem"],
        ["http://a.test/", "--user-agent", "evil\r\nX-Injected: 1"],
        ["http://a.test/", "--if-modified-since", "yesterday"],
        ["http://a.test/", "--no-such-option"],
        ["http://a.test/", "http://b.test/"],
        ["http://a.test/", "--retries"],
        ["http://a.test/", "--url-stdin=yes"],
        ["http://a.test/", "-x"],
    ],
)
def test_bad_arguments_exit_with_status_2_and_one_stderr_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_invocation(argv)

    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.endswith("\n")
    assert captured.err.count("\n") == 1


@pytest.mark.parametrize(
    ("spec", "allowed", "refused"),
    [
        ("any", [1, 22, 65535], []),
        ("ANY", [1, 65535], []),
        ("443", [443], [80, 444]),
        ("80, 443,8000-8002", [80, 443, 8000, 8001, 8002], [81, 7999, 8003]),
        ("1-65535", [1, 65535], []),
    ],
)
def test_port_policies(spec: str, allowed: list[int], refused: list[int]) -> None:
    policy = parse_port_policy(spec)

    assert all(policy.allows(port) for port in allowed)
    assert not any(policy.allows(port) for port in refused)


@pytest.mark.parametrize("spec", ["", "0", "65536", "http", "80-", "-80", "443-80", "8 0"])
def test_bad_port_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="port"):
        parse_port_policy(spec)


@pytest.mark.parametrize(
    ("url", "fetched", "host", "port", "request_target"),
    [
        ("http://Example.TEST/", "http://example.test/", "example.test", 80, "/"),
        ("HTTPS://example.test", "https://example.test/", "example.test", 443, "/"),
        ("http://example.test:80/a", "http://example.test/a", "example.test", 80, "/a"),
        (
            "http://example.test:8080/a?b=c#frag",
            "http://example.test:8080/a?b=c",
            "example.test",
            8080,
            "/a?b=c",
        ),
        ("http://user:pw@example.test/", "http://example.test/", "example.test", 80, "/"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x", "::1", 8080, "/x"),
        ("http://b\u00fccher.test/", "http://xn--bcher-kva.test/", "xn--bcher-kva.test", 80, "/"),
        (
            "http://a.test/p\u00e4th?q=\u00e4",
            "http://a.test/p%C3%A4th?q=%C3%A4",
            "a.test",
            80,
            "/p%C3%A4th?q=%C3%A4",
        ),
        (
            "http://a.test/already%20encoded",
            "http://a.test/already%20encoded",
            "a.test",
            80,
            "/already%20encoded",
        ),
        ("  http://a.test/  ", "http://a.test/", "a.test", 80, "/"),
        ("http://a.test/a b?c d", "http://a.test/a%20b?c%20d", "a.test", 80, "/a%20b?c%20d"),
        ("http://a.test./", "http://a.test./", "a.test.", 80, "/"),
        (f"http://{'a' * 63}.test/", f"http://{'a' * 63}.test/", f"{'a' * 63}.test", 80, "/"),
    ],
)
def test_urls_are_split_into_what_the_connection_needs(
    url: str, fetched: str, host: str, port: int, request_target: str
) -> None:
    target = parse_target(url, allowed_ports=ANY)

    assert (target.url, target.host, target.port, target.request_target) == (
        fetched,
        host,
        port,
        request_target,
    )


def test_a_url_on_a_port_not_allowed_is_blocked() -> None:
    with pytest.raises(Blocked, match="port 22"):
        parse_target("http://a.test:22/", allowed_ports=parse_port_policy("80,443"))


@pytest.mark.parametrize(
    "url",
    [
        "ftp://a.test/",
        "http://",
        "//a.test/",
        "http://a b.test/",
        "http://[zz::1]/",
        "http://a.test:0x50/",
        "http://a.test:0/",
        "http://a..test/",
        "http://.a.test/",
        f"http://{'a' * 64}.test/",
        f"http://a.{'a' * 64}/",
        "http://a.test../",
    ],
)
def test_unfetchable_urls_are_refused(url: str) -> None:
    with pytest.raises(BadUrl):
        parse_target(url, allowed_ports=ANY)


@pytest.mark.parametrize(
    ("value", "delay"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Thu, 01 Jan 2026 00:01:40 GMT", 100.0),
        ("Wed, 31 Dec 2025 00:00:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_retry_after_in_seconds_or_as_a_date(value: str | None, delay: float | None) -> None:
    new_year_2026 = 1_767_225_600.0

    assert parse_retry_after(value, now=new_year_2026) == delay


def test_without_retry_after_the_backoff_doubles_up_to_a_ceiling() -> None:
    delays = [retry_delay(retry_after=None, retry_number=n, now=0.0) for n in range(1, 8)]

    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_lists_every_option_on_stderr_and_exits_0(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_invocation(["http://a.test/", flag])

    assert exited.value.code == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    for option in [*OPTIONS, URL_STDIN]:
        assert f"  {option} " in captured.err
