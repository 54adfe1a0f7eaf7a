"""Revision 0002 fills the search columns of rows made before it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.premigration import build_premigration
from worker.store.database import Database
from worker.store.migrations import BASELINE, commands


@pytest.fixture
def fresh(database_url: str) -> Iterator[Database]:
    """An empty database on this test's backend."""
    database = Database(url=database_url)
    yield database
    database.dispose()


_REPORT = {"status_code": 200, "peer": {"address": "0:0:0:0:0:0:0:1", "port": 8080}}


@pytest.mark.backends
def test_old_rows_get_their_host_final_host_and_peer_address(fresh: Database) -> None:
    build_premigration(fresh)
    commands.upgrade(fresh, target=BASELINE)
    with fresh.engine.connect() as connection, connection.begin():
        connection.execute(
            sa.text(
                "INSERT INTO scan_jobs (id, url, url_key, state, version, attempts, "
                "max_attempts, priority, created_at, updated_at) VALUES ('idn', "
                "'https://BÜCHER.example./x', 'https://xn--bcher-kva.example/x', 'COMPLETED', "
                "4, 1, 3, 'normal', '2026-12-03 10:00:00', '2026-12-03 10:00:01')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO scan_results (job_id, attempt, created_at, final_url, verdict, "
                "score, reasons, report, not_modified) VALUES ('idn', 1, "
                "'2026-12-03 10:00:01', :final_url, 'benign', 0, '[]', :report, FALSE)"
            ),
            {"final_url": "http://[::1]:8080/landing", "report": json.dumps(_REPORT)},
        )
    commands.upgrade(fresh)
    with fresh.engine.connect() as connection, connection.begin():
        hosts = {
            str(row.id): row.host
            for row in connection.execute(sa.text("SELECT id, host FROM scan_jobs"))
        }
        verdicts = {
            str(row.id): row.verdict
            for row in connection.execute(sa.text("SELECT id, verdict FROM scan_jobs"))
        }
        results = {
            row.job_id: (row.final_host, row.peer_address)
            for row in connection.execute(
                sa.text("SELECT job_id, final_host, peer_address FROM scan_results")
            )
        }
    assert hosts.pop("idn") == "xn--bcher-kva.example"
    # The fixture's two completed jobs are suspicious; the others have no result.
    assert verdicts.pop("idn") == "benign"
    assert {job: verdict for job, verdict in verdicts.items() if verdict} == {
        "0000000000000000000000000000c004": "suspicious",
        "0000000000000000000000000000c008": "suspicious",
    }
    assert set(hosts.values()) == {"127.0.0.1"}
    assert results.pop("idn") == ("::1", "::1")
    assert set(results.values()) == {("127.0.0.1", None)}
