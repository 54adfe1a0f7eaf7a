"""What a search of ``GET /v1/scans`` costs at 100,000 jobs: the plan and the time of each.

    python benchmarks/search_cost.py [--jobs N] [--runs N] [--postgresql]

Fills a new SQLite database (and with ``--postgresql`` a PostgreSQL cluster of its own, from
Debian's packages) with ``--jobs`` jobs over 1,000 hosts, 80% of them COMPLETED with a result
(90% benign, 9% suspicious, 1% malicious; a tenth redirected to another host; each body hash
shared by about 16 results; each completed scan connected to its host's address and to one of
200 subresource addresses, in ``scan_peers``), runs ``ANALYZE``, then times
``worker.store.search.search_jobs`` (the page's id query, then its jobs and results) for the
first page of 50 and for page 20, and prints each id query's plan (``EXPLAIN QUERY PLAN`` /
``EXPLAIN``). Figures go to ``benchmarks/search-cost.json`` and a table to stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from statemachine.states import State  # noqa: E402
from worker.store.database import Database  # noqa: E402
from worker.store.models import JOBS, PEERS, RESULTS  # noqa: E402
from worker.store.search import Position, ScanFilter, search_jobs  # noqa: E402

#: Where the figures are written.
OUTPUT = REPOSITORY / "benchmarks" / "search-cost.json"
#: Distinct hosts the jobs are spread over.
HOSTS = 1000
#: Rows written per statement while filling.
BATCH = 5000
#: The page whose cost is measured besides the first (its cursor is followed there).
DEEP_PAGE = 20
START = datetime(2026, 11, 1, tzinfo=UTC)


def _host(index: int) -> str:
    return f"host{index % HOSTS}.example"


def _verdict(index: int) -> str:
    return "malicious" if index % 100 == 7 else "suspicious" if index % 100 < 10 else "benign"


def _sha(index: int) -> str:
    return hashlib.sha256(str(index % 5000).encode()).hexdigest()


def _peer(index: int) -> str:
    """The address the final answer of job ``index`` came from: one per host."""
    return f"10.0.{(index % HOSTS) // 256}.{(index % HOSTS) % 256}"


def fill(db: Database, jobs: int) -> None:
    """``jobs`` jobs, one a second from ``START``, and the results of the completed ones."""
    db.create_schema()
    for first in range(0, jobs, BATCH):
        rows, results, peers = [], [], []
        for index in range(first, min(first + BATCH, jobs)):
            created = START + timedelta(seconds=index)
            completed = index % 5 != 0
            state = State.COMPLETED if completed else (State.QUEUED, State.FAILED)[index % 2]
            job_id = f"{index:032x}"
            url = f"http://{_host(index)}/page/{index}"
            rows.append(
                {
                    "id": job_id,
                    "url": url,
                    "url_key": url,
                    "host": _host(index),
                    "verdict": _verdict(index) if completed else None,
                    "state": state.value,
                    "version": 4 if completed else 1,
                    "attempts": 1,
                    "max_attempts": 3,
                    "priority": "normal",
                    "created_at": created,
                    "updated_at": created,
                }
            )
            if completed:
                final = _host(index + 1) if index % 10 == 3 else _host(index)
                results.append(
                    {
                        "job_id": job_id,
                        "attempt": 1,
                        "created_at": created,
                        "status_code": 200,
                        "final_url": f"http://{final}/",
                        "final_host": final,
                        "title": "a page",
                        "content_type": "text/html",
                        "size": 100,
                        "sha256": _sha(index),
                        "verdict": _verdict(index),
                        "score": 0,
                        "reasons": [],
                        "report": {},
                        "duration_ms": 500.0,
                        "not_modified": False,
                        "peer_address": _peer(index),
                    }
                )
                # The final answer's address, and a subresource's that 1 scan in 200 shares.
                peers += [
                    {"peer_address": _peer(index), "job_id": job_id},
                    {"peer_address": f"198.51.100.{index % 200}", "job_id": job_id},
                ]
        with db.write() as connection:
            connection.execute(JOBS.insert(), rows)
            if results:
                connection.execute(RESULTS.insert(), results)
                connection.execute(PEERS.insert(), peers)
    with db.write() as connection:
        connection.exec_driver_sql("ANALYZE")


def searches(jobs: int) -> dict[str, ScanFilter]:
    """The searches measured, by name."""
    return {
        "none": ScanFilter(),
        "state=COMPLETED": ScanFilter(state=State.COMPLETED),
        "state=QUEUED": ScanFilter(state=State.QUEUED),
        "state=FETCHING (no match)": ScanFilter(state=State.FETCHING),
        "verdict=benign": ScanFilter(verdict="benign"),
        "verdict=malicious": ScanFilter(verdict="malicious"),
        "host": ScanFilter(host=_host(17)),
        "final_host": ScanFilter(final_host=_host(18)),
        "peer": ScanFilter(peer="10.0.0.17"),
        "peer (a subresource's, shared)": ScanFilter(peer="198.51.100.17"),
        "sha256": ScanFilter(sha256=_sha(17)),
        "since (last hour)": ScanFilter(since=START + timedelta(seconds=jobs - 3600)),
        "verdict=malicious&host": ScanFilter(verdict="malicious", host=_host(7)),
    }


def _captured(db: Database, work: Callable[[], Any]) -> tuple[str, Any]:
    """The first statement ``work`` sends to the database, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        work()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)
    return next((s, p) for s, p in seen if "ORDER BY" in s)


def plan(db: Database, statement: str, parameters: Any) -> list[str]:
    """The database's plan of ``statement``."""
    prefix = "EXPLAIN " if db.backend == "postgresql" else "EXPLAIN QUERY PLAN "
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(prefix + statement, parameters)
        rows = cursor.fetchall()
        cursor.close()
    finally:
        raw.close()
    return [str(row[0]) if db.backend == "postgresql" else str(row[-1]) for row in rows]


def _deep_position(db: Database, filters: ScanFilter) -> Position | None:
    after = None
    for _ in range(DEEP_PAGE - 1):
        page = search_jobs(db, filters=filters, after=after, limit=50)
        if page.next is None:
            return None
        after = page.next
    return after


def _time(work: Callable[[], Any], runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[max(int(len(times) * 0.95) - 1, 0)], 2),
        "max_ms": round(times[-1], 2),
    }


def measure(db: Database, jobs: int, runs: int) -> list[dict[str, Any]]:
    """Each search's plan and times, first page and deep page."""
    figures = []
    for name, filters in searches(jobs).items():

        def first(filters: ScanFilter = filters) -> Any:
            return search_jobs(db, filters=filters, limit=50)

        page = first()
        statement, parameters = _captured(db, first)
        deep = _deep_position(db, filters)
        figure: dict[str, Any] = {
            "search": name,
            "jobs_on_first_page": len(page.jobs),
            "plan": plan(db, statement, parameters),
            "first_page": _time(first, runs),
        }
        if deep is not None:
            figure["page_20"] = _time(
                lambda filters=filters, deep=deep: search_jobs(
                    db, filters=filters, after=deep, limit=50
                ),
                runs,
            )
        figures.append(figure)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--postgresql", action="store_true")
    options = parser.parse_args()
    report: dict[str, Any] = {"jobs": options.jobs, "runs": options.runs, "backends": {}}
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        db = Database(url=f"file:{Path(scratch) / 'search.db'}")
        fill(db, options.jobs)
        filled = time.perf_counter() - started
        report["backends"]["sqlite"] = {
            "fill_s": round(filled, 1),
            "searches": measure(db, options.jobs, options.runs),
            "sqlite_version": sqlite3.sqlite_version,
        }
        db.dispose()
    if options.postgresql:
        from tests.databases import PostgresServer, postgres_binaries  # noqa: PLC0415

        binaries = postgres_binaries()
        if binaries is None:
            raise SystemExit("PostgreSQL is not installed (scripts/setup.sh installs it)")
        server = PostgresServer(binaries=binaries)
        server.start()
        try:
            db = Database(url=server.new_database())
            started = time.perf_counter()
            fill(db, options.jobs)
            with db.engine.connect() as connection:
                version = connection.exec_driver_sql("SHOW server_version").scalar()
            report["backends"]["postgresql"] = {
                "fill_s": round(time.perf_counter() - started, 1),
                "searches": measure(db, options.jobs, options.runs),
                "version": version,
            }
            db.dispose()
        finally:
            server.stop()
    OUTPUT.write_text(json.dumps(report, indent=2) + "\n")
    for backend, figures in report["backends"].items():
        print(f"\n{backend} ({options.jobs} jobs, {options.runs} runs each)")
        print("| search | jobs on page 1 | page 1 p50 / p95 ms | page 20 p50 / p95 ms | plan |")
        print("| --- | --- | --- | --- | --- |")
        for item in figures["searches"]:
            deep = item.get("page_20")
            deep_text = f"{deep['p50_ms']} / {deep['p95_ms']}" if deep else "-"
            first_page = item["first_page"]
            print(
                f"| {item['search']} | {item['jobs_on_first_page']} | "
                f"{first_page['p50_ms']} / {first_page['p95_ms']} | "
                f"{deep_text} | {'; '.join(line.strip() for line in item['plan'])} |"
            )


if __name__ == "__main__":
    main()
