"""The browser's command line."""

from __future__ import annotations

import pytest

from fetcher.browser.options import (
    DEFAULT_DEADLINE_MS,
    MAX_STDIN_URL_BYTES,
    parse_invocation,
    read_url_line,
)


def test_defaults_are_the_named_constants() -> None:
    invocation = parse_invocation(["--proxy-socket", "/run/egress.sock", "http://a.test/"])

    assert invocation.url == "http://a.test/"
    assert invocation.url_stdin is False
    assert invocation.options.deadline_ms == DEFAULT_DEADLINE_MS
    assert invocation.options.proxy_socket == "/run/egress.sock"


def test_limits_are_set_by_their_options() -> None:
    invocation = parse_invocation(
        ["--proxy-socket", "s", "--url-stdin", "--deadline-ms", "9000", "--max-requests", "7"]
    )

    assert invocation.url is None
    assert invocation.url_stdin is True
    assert invocation.options.deadline_ms == 9000
    assert invocation.options.max_requests == 7


@pytest.mark.parametrize(
    "argv",
    [
        ["http://a.test/"],
        ["--proxy-socket", "s"],
        ["--proxy-socket", "s", "--url-stdin", "http://a.test/"],
        ["--proxy-socket", "s", "--deadline-ms", "0", "http://a.test/"],
        ["--proxy-socket", "s", "--deadline-ms", "-5", "http://a.test/"],
        ["--proxy-socket", "s", "--deadline-ms", "1000", "--collect-ms", "1000", "u"],
        ["--proxy-socket", "s", "--user-agent", "a\r\nX-Injected: 1", "u"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        parse_invocation(argv)

    assert stopped.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1


@pytest.mark.parametrize(
    ("line", "url"),
    [
        (b"http://a.test/\n", "http://a.test/"),
        (b"http://a.test/\r\n", "http://a.test/"),
        (b"\n", None),
        (b"", None),
        (b"\xff\xfe\n", None),
        (b"x" * (MAX_STDIN_URL_BYTES + 1), None),
    ],
)
def test_the_stdin_line_gives_a_url_or_none(line: bytes, url: str | None) -> None:
    assert read_url_line(line) == url
