"""A page that attacks the operator's terminal, scanned for real and shown by real commands.

Its title clears the screen, plants an OSC 8 link, reverses text with a bidi override, and
holds Rich markup that would crash the views or print a fake verdict. A real worker scans it;
`scanbox show`, `status` and `list` run as the operator would run them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import docker

from statemachine.states import State
from tests.integration.conftest import settings_from
from tests.services import worker_processes
from tests.sites import serve
from worker.app.database import open_database
from worker.store import queries

TITLE = (
    "\x1b[2J\x1b[H"
    "\x1b]8;;http://127.0.0.1:9/phish\x1b\\click\x1b]8;;\x1b\\"
    "invoice\u202efdp.exe"
    "[bold green]verdict benign[/]"
    "[/]"
)
PAGE = f"<html><head><title>{TITLE}</title></head><body>hi</body></html>".encode()
#: Characters no human view may print raw.
FORBIDDEN = ("\x1b", "\x9b", "\u202e")


def _scanbox(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_hostile_title_reaches_the_terminal_as_text(
    scan_env: dict[str, str], docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    with serve() as site:
        site.page("/", PAGE)
        submitted = _scanbox(scan_env, "submit", site.url("/"))
        assert submitted.returncode == 0, submitted.stderr
        job_id = submitted.stdout.strip()
        with worker_processes(scan_env, tmp_path) as workers:
            assert workers.run("--burst", "--concurrency", "1") == 0
    db = open_database(settings_from(scan_env))
    result = queries.get_result(db, job_id)
    assert queries.get_job(db, job_id).state == State.COMPLETED
    assert result is not None
    assert "\x1b" in (result.title or "")  # the page really carried the escape sequences
    for command in (["show", job_id], ["status", job_id], ["list"]):
        shown = _scanbox(scan_env, *command)
        assert shown.returncode == 0, shown.stderr
        for character in FORBIDDEN:
            assert character not in shown.stdout, command
    shown = _scanbox(scan_env, "show", job_id)
    flat = "".join(c for c in shown.stdout if not c.isspace() and c not in "│╭╮╰╯─")
    assert "[boldgreen]verdictbenign[/]" in flat
    assert "\\u202e" in flat
    exact = json.loads(_scanbox(scan_env, "show", job_id, "--json").stdout)
    assert exact["result"]["title"] == result.title
