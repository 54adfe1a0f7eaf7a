"""What a page, a URL or a container wrote reaches a terminal as text, never as control.

The rows here are written straight into the database, as a hostile page's result (or a row
stored before URLs were checked as strictly) would be, and then shown by every human view.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from statemachine.transitions import create_job
from worker.cli import app
from worker.logs import escape_controls
from worker.printable import printable
from worker.store.database import Database
from worker.store.models import JOBS, RESULTS, SCHEDULES

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
JOB = "d" * 32
#: What a hostile page puts in its title, URL and reasons.
CLEAR_SCREEN = "\x1b[2J\x1b[H"
HYPERLINK = "\x1b]8;;http://127.0.0.1:9/phish\x1b\\click me\x1b]8;;\x1b\\"
RIGHT_TO_LEFT = "invoice\u202efdp.exe"
C1 = "\x9b31m"
FAKE_VERDICT = "[bold green]verdict benign[/]"
MARKUP_CLOSE = "[/]"
HOSTILE_TITLE = f"{CLEAR_SCREEN}{HYPERLINK}{RIGHT_TO_LEFT}{C1}{FAKE_VERDICT}{MARKUP_CLOSE}"
HOSTILE_URL = f"http://127.0.0.1/[link=http://127.0.0.1:9/]x[/link]:smile:{MARKUP_CLOSE}{RIGHT_TO_LEFT}\x1b[31m"
#: Characters no human view may print raw.
FORBIDDEN = ("\x1b", "\x9b", "\u202e", "\x07")


@pytest.fixture
def hostile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    url = f"file:{tmp_path / 'hostile.db'}"
    monkeypatch.setenv("TURSO_CONNECTION_URL", url)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    db = Database(url=url)
    with db.write() as connection:
        create_job(
            connection,
            job_id=JOB,
            url=HOSTILE_URL,
            priority="normal",
            max_attempts=3,
            actor="submit",
            now=NOW,
        )
        connection.execute(
            JOBS.update()
            .where(JOBS.c.id == JOB)
            .values(
                state="COMPLETED",
                version=4,
                error_code="invalid_output",
                error_message=f"fetcher said {CLEAR_SCREEN}{FAKE_VERDICT}",
            )
        )
        connection.execute(
            RESULTS.insert().values(
                job_id=JOB,
                attempt=1,
                created_at=NOW,
                status_code=200,
                final_url=HOSTILE_URL,
                title=HOSTILE_TITLE,
                content_type=f"text/html{C1}",
                size=10,
                sha256="0" * 64,
                verdict="malicious",
                score=90,
                reasons=[{"rule": FAKE_VERDICT, "score": 90, "message": HOSTILE_TITLE}],
                report={"title": HOSTILE_TITLE, "timings": {"total_ms": float("nan")}},
            )
        )
        connection.execute(
            SCHEDULES.insert().values(
                id="s1",
                url=HOSTILE_URL,
                cron="* * * * *",
                active=True,
                priority="normal",
                created_at=NOW,
                updated_at=NOW,
                skipped_ticks=0,
                error=f"invalid URL {HOSTILE_URL}",
            )
        )
    return db


def _flat(out: str) -> str:
    """``out`` without white space or box drawing (tables wrap long cells)."""
    return "".join(
        character for character in out if not character.isspace() and character not in "│╭╮╰╯─"
    )


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "args",
    [["show", JOB], ["status", JOB], ["list"], ["schedule", "list"], ["stats"]],
)
def test_human_views_print_hostile_text_as_text(hostile: Database, args: list[str]) -> None:
    status, out, err = _run(*args)
    assert status == 0, err
    for character in FORBIDDEN:
        assert character not in out
    flat = _flat(out)
    # Emoji codes and link markup print as the characters they are.
    assert "\U0001f604" not in out
    if args[0] in ("show", "status"):
        assert ":smile:" in flat
    if args[0] in ("show", "status"):
        assert "malicious(score90)" in flat
    # "benign" appears only inside the title's literal markup, never as a verdict of its own.
    assert flat.count("benign") == flat.count(_flat(FAKE_VERDICT))


def test_show_prints_the_markup_and_the_escapes_it_was_given(hostile: Database) -> None:
    status, out, _ = _run("show", JOB)
    assert status == 0
    flat = _flat(out)
    assert _flat(FAKE_VERDICT) in flat
    assert "\\u202e" in flat
    assert "\\x1b[2J" in flat


def test_json_stays_exact_and_valid(hostile: Database) -> None:
    status, out, _ = _run("show", JOB, "--json")
    assert status == 0
    data = json.loads(out)
    assert data["url"] == HOSTILE_URL
    assert data["result"]["title"] == HOSTILE_TITLE
    assert data["result"]["report"]["timings"]["total_ms"] is None
    assert "NaN" not in out


def test_printable_escapes_every_control_and_keeps_the_rest() -> None:
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("x\u202ey\u2066z\u200f") == "x\\u202ey\\u2066z\\u200f"
    assert printable("\x00\x07\x7f\x85\x9f\n\t") == "\\x00\\x07\\x7f\\x85\\x9f\\x0a\\x09"
    assert printable("ünïcödé ✓ 日本 [b]x[/b]") == "ünïcödé ✓ 日本 [b]x[/b]"


def test_console_log_lines_escape_controls() -> None:
    line = escape_controls(None, "info", {"event": "x", "url": HOSTILE_URL, "n": 1})
    assert not any(character in str(line["url"]) for character in FORBIDDEN)
    assert line["n"] == 1
