"""``--url-stdin``: the URL as the first line of stdin, for containers made before their URL."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fetcher.__main__ import input_waiting
from fetcher.options import MAX_STDIN_URL_BYTES, parse_invocation
from tests.unit.fetcher.servers import Reply, ScriptedServer, replies

MakeServer = Callable[..., ScriptedServer]

REPOSITORY = Path(__file__).resolve().parents[3]


def test_the_url_is_the_first_line_of_stdin() -> None:
    stdin = io.BytesIO(b"http://127.0.0.1:8080/a?b=c\nhttp://127.0.0.1:8080/ignored\n")
    invocation = parse_invocation(["--timeout-ms", "900", "--url-stdin"], stdin=stdin)
    assert invocation.url == "http://127.0.0.1:8080/a?b=c"
    assert invocation.options.timeout_ms == 900


def test_a_url_without_a_newline_is_read_too() -> None:
    invocation = parse_invocation(["--url-stdin"], stdin=io.BytesIO(b"http://127.0.0.1/\r\n"))
    assert invocation.url == "http://127.0.0.1/"


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["--url-stdin", "--", "http://127.0.0.1/"], b"http://127.0.0.1/\n", "not both"),
        (["--url-stdin"], b"", "no URL on standard input"),
        (["--url-stdin"], b"\n", "no URL on standard input"),
        (["--url-stdin"], b"http://127.0.0.1/\xff\n", "not UTF-8"),
        (["--url-stdin"], b"http://h/" + b"a" * MAX_STDIN_URL_BYTES + b"\n", "longer than"),
        ([], b"http://127.0.0.1/\n", "required: URL"),
    ],
)
def test_bad_stdin_urls_are_usage_errors(
    argv: list[str], stdin: bytes, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_invocation(argv, stdin=io.BytesIO(stdin))
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert message in error
    assert error.count("\n") == 1


def test_the_fetcher_fetches_the_url_it_reads(make_server: MakeServer) -> None:
    server = make_server(replies(Reply(headers=[("Content-Type", "text/html")], body=b"<p>x</p>")))
    result = subprocess.run(
        [sys.executable, "-m", "fetcher", "--allow-network", "127.0.0.1/32",
         "--allowed-ports", str(server.port), "--url-stdin"],
        input=server.url("/from-stdin") + "\n",
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["requested_url"] == server.url("/from-stdin")
    assert report["status_code"] == 200
    # Its start-up is what it took to be ready to read the URL, a positive time.
    assert report["timings"]["startup_ms"] is None or report["timings"]["startup_ms"] > 0


def test_a_url_already_written_is_seen_as_waiting_and_an_empty_pipe_is_not() -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(read_end) as reader, os.fdopen(write_end, "w") as writer:
        assert not input_waiting(reader)
        writer.write("http://127.0.0.1/\n")
        writer.flush()
        assert input_waiting(reader)
    assert not input_waiting(reader)  # closed
