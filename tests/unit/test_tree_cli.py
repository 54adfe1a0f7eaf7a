"""``submit --depth``, ``show`` with parent and children, ``show --tree``: JSON and terminal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from tests.support import FakeDispatcher
from worker.cli import app
from worker.store.database import Database
from worker.store.models import ScanJob
from worker.submit.batch import submit_urls
from worker.submit.children import ChildLimits, ChildScans, Lead

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
ROOT = "http://127.0.0.1:8001/"
B = "http://127.0.0.2:8002/b"
C = "http://127.0.0.3:8003/c"
#: A URL validate_url accepts that holds an invisible character: shown, never passed through.
SNEAKY = "http://127.0.0.4/a\u200bb"


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    url = f"file:{tmp_path / 'cli.db'}"
    monkeypatch.setenv("TURSO_CONNECTION_URL", url)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("MAX_SCAN_DEPTH", "2")
    monkeypatch.setenv("CHILD_SCANS_MAX", "4")
    monkeypatch.setenv("CHILD_SCANS_DEFAULT", "2")
    monkeypatch.chdir(tmp_path)
    return Database(url=url)


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _spawn(db: Database, parent_id: str, *leads: Lead) -> list[str]:
    children = ChildScans(
        dispatcher=FakeDispatcher(), limits=ChildLimits(), dedup_window=timedelta(0)
    )
    spawned = db.run_write(
        lambda connection: children.spawn(
            connection,
            parent_id=parent_id,
            priority="normal",
            max_attempts=3,
            leads=leads,
            actor="w1",
            now=NOW,
        )
    )
    return list(spawned.job_ids)


def _tree(db: Database) -> tuple[str, str, str]:
    """ROOT -> B (link), SNEAKY (form); B -> C (link), ROOT (a link back, not followed)."""
    [root] = submit_urls([ROOT], db=db, dispatcher=FakeDispatcher(), depth=2, clock=lambda: NOW)
    b, _sneaky = _spawn(db, root, Lead(url=B, via="link"), Lead(url=SNEAKY, via="form"))
    [c] = _spawn(db, b, Lead(url=C, via="link"), Lead(url=ROOT, via="link"))
    return root, b, c


@pytest.mark.parametrize(
    "args",
    [
        ["submit", "--depth", "3", "http://127.0.0.1/"],
        ["submit", "--depth", "-1", "http://127.0.0.1/"],
        ["submit", "--depth", "1", "--max-children", "5", "http://127.0.0.1/"],
    ],
)
def test_depth_and_children_past_the_settings_are_one_line_and_status_2(
    cli_db: Database, args: list[str]
) -> None:
    status, out, err = _run(*args)
    assert status == 2
    assert out == ""
    assert err.startswith("scanbox: error: ")
    assert err.count("\n") == 1
    assert ("MAX_SCAN_DEPTH" in err) or ("CHILD_SCANS_MAX" in err)
    with cli_db.read() as session:
        assert session.exec(select(ScanJob)).all() == []


def test_show_json_has_the_parent_and_the_children(cli_db: Database) -> None:
    root, b, c = _tree(cli_db)

    status, out, _ = _run("show", b, "--json")
    assert status == 0
    data = json.loads(out)
    assert data["parent"] == {"id": root, "url": ROOT, "state": "QUEUED"}
    assert (data["depth"], data["max_depth"]) == (1, 2)
    assert data["children"] == [
        {"id": c, "url": C, "state": "QUEUED", "via": "link", "created": True},
        {"id": root, "url": ROOT, "state": "QUEUED", "via": "link", "created": False},
    ]
    assert "tree" not in data

    _, out, _ = _run("show", root, "--json")
    root_data = json.loads(out)
    assert root_data["parent"] is None
    assert [child["url"] for child in root_data["children"]] == [B, SNEAKY]


def test_a_job_in_no_tree_shows_no_parent_and_no_children(cli_db: Database) -> None:
    [job] = submit_urls([ROOT], db=cli_db, dispatcher=FakeDispatcher())

    _, out, _ = _run("show", job, "--json")
    data = json.loads(out)
    assert (data["parent"], data["depth"], data["children"]) == (None, None, [])
    _, text_out, _ = _run("show", job)
    assert "children" not in text_out


def test_show_tree_json_nests_the_whole_tree_from_its_root(cli_db: Database) -> None:
    root, b, c = _tree(cli_db)

    status, out, _ = _run("show", c, "--tree", "--json")
    assert status == 0
    tree = json.loads(out)["tree"]
    assert tree["id"] == root
    assert [(node["id"], node["via"], node["created"]) for node in tree["children"]] == [
        (b, "link", True),
        (tree["children"][1]["id"], "form", True),
    ]
    b_node = tree["children"][0]
    assert [(node["id"], node["created"]) for node in b_node["children"]] == [
        (c, True),
        (root, False),
    ]
    # The link back to the root is shown, not entered: the tree ends.
    assert b_node["children"][1]["children"] == []
    assert b_node["children"][0]["children"] == []


def test_show_tree_draws_safely_and_points_at_the_job(cli_db: Database) -> None:
    root, b, c = _tree(cli_db)

    status, out, _ = _run("show", b, "--tree")
    assert status == 0
    lines = out.splitlines()
    assert root in lines[0]
    assert "\u200b" not in out
    assert "http://127.0.0.4/a\\u200bb" in out
    [marked] = [line for line in lines if line.rstrip().endswith("<")]
    assert b in marked
    assert "(linked: scanned already, not followed)" in out
    assert sum(c in line for line in lines) == 1


def test_show_lists_parent_and_children_for_people(cli_db: Database) -> None:
    root, b, c = _tree(cli_db)

    status, out, _ = _run("show", b)
    assert status == 0
    lines = out.splitlines()
    assert any(line.split()[:3] == ["depth", "1", "of"] for line in lines if line.strip())
    assert any(line.split()[:2] == ["parent", root] for line in lines if line.strip())
    [child_line] = [line for line in lines if c in line]
    assert child_line.split()[0] == "children"
