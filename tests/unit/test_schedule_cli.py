"""``scanbox schedule``, ``stats`` and ``maintenance`` on the command line; JSON logs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from worker.cli import app
from worker.logs import JOB_FIELDS
from worker.schedule.schedules import list_schedules
from worker.store.database import Database


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    url = f"file:{tmp_path / 'cli.db'}"
    monkeypatch.setenv("TURSO_CONNECTION_URL", url)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-docker.sock'}")
    return Database(url=url)


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_schedules_are_added_listed_disabled_enabled_and_removed(cli_db: Database) -> None:
    status, out, _ = _run("schedule", "add", "http://127.0.0.1:8080/", "--cron", "*/15 * * * *")
    assert status == 0
    schedule_id = out.strip()
    status, out, _ = _run("schedule", "list", "--json")
    [listed] = json.loads(out)
    assert (listed["id"], listed["cron"], listed["active"]) == (schedule_id, "*/15 * * * *", True)
    assert listed["next_run_at"].endswith(("00:00Z", "15:00Z", "30:00Z", "45:00Z"))
    assert _run("schedule", "disable", schedule_id)[:2] == (0, f"{schedule_id} disabled\n")
    assert [s.active for s in list_schedules(cli_db)] == [False]
    assert list_schedules(cli_db)[0].next_run_at is None
    assert _run("schedule", "enable", schedule_id)[:2] == (0, f"{schedule_id} enabled\n")
    assert [s.active for s in list_schedules(cli_db)] == [True]
    assert _run("schedule", "remove", schedule_id)[0] == 0
    assert list_schedules(cli_db) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["schedule", "add", "http://127.0.0.1/", "--cron", "61 * * * *"], "invalid cron"),
        (["schedule", "add", "ftp://127.0.0.1/", "--cron", "* * * * *"], "invalid URL"),
        (
            ["schedule", "add", "http://127.0.0.1/", "--cron", "* * * * *", "--priority", "now"],
            "unknown priority",
        ),
        (["schedule", "disable", "nope"], "no schedule with id 'nope'"),
        (["schedule", "remove", "nope"], "no schedule with id 'nope'"),
    ],
)
def test_bad_schedule_input_is_one_line_and_status_2(
    cli_db: Database, args: list[str], message: str
) -> None:
    status, _, err = _run(*args)
    assert status == 2
    assert err.startswith("scanbox: error: ")
    assert message in err
    assert err.count("\n") == 1
    assert list_schedules(cli_db) == []


def test_stats_and_maintenance_print_json(cli_db: Database) -> None:
    _run("schedule", "add", "http://127.0.0.1/", "--cron", "* * * * *")
    status, out, _ = _run("stats", "--json")
    assert status == 0
    data = json.loads(out)
    assert data["schedules"] == {"active": 1, "inactive": 0, "invalid": 0}
    assert set(data["states"]) >= {"QUEUED", "COMPLETED"}
    # In a process of its own: maintenance configures logging (to stderr) for its process.
    done = subprocess.run(
        [sys.executable, "-m", "worker", "maintenance", "--json", "--vacuum"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(done.stdout)
    assert json.loads(done.stderr.splitlines()[-1])["event"] == "maintenance_done"
    assert report["database"] == ["PRAGMA optimize", "VACUUM"]
    assert report["jobs_deleted"] == 0
    status, out, _ = _run("stats", "--json")
    assert [run["kind"] for run in json.loads(out)["runs"]] == ["maintenance"]


def test_every_log_line_is_json_with_the_job_fields() -> None:
    program = (
        "import logging\n"
        "from worker.logs import configure_logging, get_logger\n"
        "configure_logging(fmt='json', level='info')\n"
        "get_logger(job_id='j1', worker='w1').info('job_claimed', state='FETCHING', attempt=1)\n"
        "get_logger().info('no_job_here')\n"
        "logging.getLogger('rq.worker').warning('from the standard library')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [line["event"] for line in lines] == [
        "job_claimed",
        "no_job_here",
        "from the standard library",
    ]
    assert all(set(JOB_FIELDS) <= line.keys() for line in lines)
    assert [line["job_id"] for line in lines] == ["j1", None, None]
    assert (lines[0]["state"], lines[0]["attempt"], lines[0]["worker"]) == ("FETCHING", 1, "w1")
