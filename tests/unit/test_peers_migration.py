"""Revision 0008 lists the addresses of the results stored before it in ``scan_peers``."""

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


_EGRESS = [
    {"host": "a.test", "port": 80, "connected": "0:0:0:0:0:0:0:1", "decision": "allowed"},
    {"host": "cdn.test", "port": 443, "connected": "192.0.2.7", "decision": "allowed"},
    {"host": "lan.test", "port": 80, "connected": None, "decision": "refused"},
    {"host": "again.test", "port": 80, "connected": "::1", "decision": "allowed"},
    {"connected": 7},
    "not a connection",
]


@pytest.mark.backends
def test_old_results_get_their_final_peer_and_every_connected_address(fresh: Database) -> None:
    build_premigration(fresh)
    commands.upgrade(fresh, target=BASELINE)
    commands.upgrade(fresh, target="0007")
    with fresh.engine.connect() as connection, connection.begin():
        for job, peer, egress in (
            ("e1", "::1", _EGRESS),
            ("e2", None, [{"connected": "198.51.100.2"}]),
            ("e3", "203.0.113.9", None),
        ):
            connection.execute(
                sa.text(
                    "INSERT INTO scan_jobs (id, url, url_key, state, version, attempts, "
                    "max_attempts, priority, mode, created_at, updated_at) VALUES (:id, "
                    "'http://a.test/', 'http://a.test/', 'COMPLETED', 4, 1, 3, 'normal', 'http', "
                    "'2026-12-04 10:00:00', '2026-12-04 10:00:01')"
                ),
                {"id": job},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO scan_results (job_id, attempt, created_at, verdict, score, "
                    "reasons, report, not_modified, peer_address, egress) VALUES (:id, 1, "
                    "'2026-12-04 10:00:01', 'benign', 0, '[]', '{}', FALSE, :peer, :egress)"
                ),
                {"id": job, "peer": peer, "egress": None if egress is None else json.dumps(egress)},
            )
    commands.upgrade(fresh)
    with fresh.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT job_id, peer_address FROM scan_peers"))
        peers = sorted((str(row.job_id), str(row.peer_address)) for row in rows)
    # The premigration fixture's results (before egress records) keep no peer address.
    assert peers == [
        ("e1", "192.0.2.7"),
        ("e1", "::1"),
        ("e2", "198.51.100.2"),
        ("e3", "203.0.113.9"),
    ]
