"""The addresses a completed scan connected to: listed once each, searchable, and removed with
the job."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from tests.apidata import finish
from tests.support import FakeDispatcher
from worker.clock import utcnow
from worker.ops.maintenance import MaintenanceReport, apply_retention
from worker.store.database import Database
from worker.store.models import PEERS
from worker.store.results import MAX_PEERS, connected_addresses
from worker.store.search import ScanFilter, search_jobs
from worker.submit.batch import submit_urls


def test_the_final_peer_comes_first_then_each_connected_address_once_compressed() -> None:
    egress = (
        {"host": "a.test", "connected": "0:0:0:0:0:0:0:1", "decision": "allowed"},
        {"host": "lan.test", "connected": None, "decision": "refused"},
        {"host": "cdn.test", "connected": "192.0.2.7", "decision": "allowed"},
        {"host": "b.test", "connected": "::1", "decision": "allowed"},
        {"host": "odd.test", "connected": 7},
    )
    assert connected_addresses(peer="192.0.2.7", egress=egress) == ["192.0.2.7", "::1"]
    assert connected_addresses(peer=None, egress=None) == []


def test_a_scan_that_reached_many_addresses_keeps_the_first_of_them() -> None:
    egress = [{"connected": f"10.0.{n // 256}.{n % 256}"} for n in range(MAX_PEERS + 50)]
    kept = connected_addresses(peer=None, egress=egress)
    assert len(kept) == MAX_PEERS
    assert kept[0] == "10.0.0.0"


def test_a_search_by_peer_finds_a_scan_by_any_connection_and_retention_removes_its_rows(
    db: Database,
) -> None:
    dispatcher = FakeDispatcher()
    first, second = submit_urls(
        ["http://a.test/1", "http://b.test/2"], db=db, dispatcher=dispatcher
    )
    finish(db, first, peer={"address": "192.0.2.1", "port": 80})
    finish(
        db,
        second,
        peer={"address": "192.0.2.2", "port": 80},
        egress=({"host": "cdn.test", "connected": "192.0.2.1", "decision": "allowed"},),
    )
    found = search_jobs(db, filters=ScanFilter(peer="192.0.2.1"))
    # One batch: the same creation time, so the page is in id order, newest first.
    assert [job.id for job in found.jobs] == sorted([first, second], reverse=True)
    assert set(found.results) == {first, second}
    assert [job.id for job in search_jobs(db, filters=ScanFilter(peer="192.0.2.2")).jobs] == [
        second
    ]
    apply_retention(db, cutoff=utcnow() + timedelta(days=1), report=MaintenanceReport())
    with db.engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(PEERS)).scalar() == 0
