"""``python -m fetcher`` as the container runs it: one JSON line on stdout, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.unit.fetcher.servers import Reply, ScriptedServer, replies
from tests.unit.fetcher.support import OBSERVATION_KEYS, TOP_LEVEL_KEYS

MakeServer = Callable[..., ScriptedServer]

REPOSITORY = Path(__file__).resolve().parents[3]


def run_fetcher(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fetcher", *arguments],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def single_report(stdout: str) -> dict[str, Any]:
    assert stdout.endswith("\n")
    assert stdout.count("\n") == 1
    report = json.loads(stdout)
    assert isinstance(report, dict)
    return report


def test_a_fetch_prints_exactly_one_json_line_with_the_schema_keys(
    make_server: MakeServer,
) -> None:
    server = make_server(
        replies(Reply(headers=[("Content-Type", "text/html")], body=b"<title>cli</title>"))
    )

    # The worker's form: options first, then "--" and the URL.
    result = run_fetcher(
        "--allow-network",
        "127.0.0.1/32",
        "--allowed-ports",
        str(server.port),
        "--",
        server.url("/"),
    )

    assert result.returncode == 0
    report = single_report(result.stdout)
    assert list(report) == TOP_LEVEL_KEYS
    assert set(report["observations"]) == OBSERVATION_KEYS
    assert report["status_code"] == 200
    assert report["title"] == "cli"
    assert report["error"] is None
    assert report["timings"]["startup_ms"] > 0


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        (["http://127.0.0.1/"], "blocked"),
        (["ftp://127.0.0.1/"], "bad_url"),
        (["http://127.0.0.1:22/", "--allow-network", "127.0.0.1/32"], "blocked"),
    ],
)
def test_failed_fetches_still_exit_0_with_a_report(arguments: list[str], code: str) -> None:
    result = run_fetcher(*arguments)

    assert result.returncode == 0
    report = single_report(result.stdout)
    assert list(report) == TOP_LEVEL_KEYS
    assert report["error"]["code"] == code


def test_an_error_status_exits_0(make_server: MakeServer) -> None:
    server = make_server(replies(Reply(status=503, body=b"down")))

    result = run_fetcher(
        server.url("/"),
        "--allow-network",
        "127.0.0.1/32",
        "--allowed-ports",
        str(server.port),
        "--retries",
        "0",
    )

    assert result.returncode == 0
    assert single_report(result.stdout)["status_code"] == 503


@pytest.mark.parametrize(
    "arguments",
    [[], ["http://a.test/", "--max-redirects", "many"], ["http://a.test/", "--bogus"]],
)
def test_usage_errors_exit_2_with_one_stderr_line_and_no_stdout(arguments: list[str]) -> None:
    result = run_fetcher(*arguments)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "error:" in result.stderr
    assert result.stdout == ""


def test_help_goes_to_stderr_so_stdout_only_ever_carries_a_report() -> None:
    result = run_fetcher("--help")

    assert result.returncode == 0
    assert "--allowed-ports" in result.stderr
    assert result.stdout == ""
