"""Child scans of a depth-2 site of 30 pages: jobs made per parent, and how soon they are queued.

Serves 30 pages, each on a loopback address of its own (127.0.1.1 to 127.0.1.30, so each is
another host): the root links to 5 pages, which link to 24 more (5, 5, 5, 5 and 4), and each
of those 5 links back to the root (a cycle, linked, never scanned again). Submits the root with
``--depth 2 --max-children 6`` and runs ``scanbox worker --concurrency W --burst`` on a database
and queue of its own, then reads from the rows and the workers' logs:

- jobs made per parent, and children linked to a job that existed;
- parent COMPLETED -> children QUEUED: the rows are written in the parent's COMPLETED
  transaction, so their ``created_at`` is the parent's ``finished_at``;
- parent COMPLETED -> children dispatched: the worker's ``children_dispatched`` line, after
  the commit;
- parent COMPLETED -> its first child claimed: how long children wait for a free worker.

Run it after ``scripts/setup.sh``::

    .venv/bin/python benchmarks/child_scans.py [--workers W] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from redis import Redis
from sqlmodel import select

from tests.sites import Site, serve
from worker.app.clients import dispatcher
from worker.app.database import open_database
from worker.app.services import child_limits
from worker.settings import Settings
from worker.store.models import AuditLog, ScanChild, ScanJob
from worker.store.queries import wait_for_terminal
from worker.submit.batch import submit_urls

#: Pages linked from the root, and from each of them.
FAN_OUT = (5, 5, 5, 5, 4)


@contextmanager
def site() -> Iterator[list[Site]]:
    """30 pages on 30 loopback hosts: ``[root, level 1..., level 2...]``."""
    pages = 1 + len(FAN_OUT) + sum(FAN_OUT)
    with ExitStack() as stack:
        hosts = [stack.enter_context(serve(f"127.0.1.{n}")) for n in range(1, pages + 1)]
        root, level1, level2 = hosts[0], hosts[1 : 1 + len(FAN_OUT)], hosts[1 + len(FAN_OUT) :]

        def page(host: Site, links: list[Site]) -> None:
            anchors = "".join(f'<a href="{link.url("/")}">x</a>' for link in links)
            host.page("/", f"<!doctype html><title>{host.host}</title>{anchors}".encode())

        page(root, level1)
        start = 0
        for host, count in zip(level1, FAN_OUT, strict=True):
            page(host, [root, *level2[start : start + count]])
            start += count
        for host in level2:
            page(host, [])
        yield hosts


def _dispatch_times(logs: Path) -> dict[str, datetime]:
    """When each parent's children were dispatched, from the workers' log lines."""
    times: dict[str, datetime] = {}
    for log in logs.glob("*.log"):
        for line in log.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "children_dispatched":
                times[entry["job_id"]] = datetime.fromisoformat(entry["timestamp"])
    return times


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50": round(statistics.median(ordered), 2),
        "max": round(ordered[-1], 2),
    }


def main(workers: int, output: Path | None) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="scanbox-children-"))
    env = {
        "TURSO_CONNECTION_URL": f"file:{workdir}/scanbox.db",
        "QUEUE_NAME": f"bench-children-{os.getpid()}",
        "FETCHER_NETWORK": "host",
        "FETCHER_ALLOW_NETWORKS": "127.0.0.0/8",
        "FETCHER_ALLOWED_PORTS": "any",
        "HOST_RATE_LIMIT": "0",
        "LOG_FORMAT": "json",
    }
    os.environ.update(env)
    settings = Settings(_env_file=None)
    db = open_database(settings)
    redis = Redis.from_url(settings.effective_redis_url)
    logs = workdir / "logs"
    logs.mkdir()
    with site() as hosts:
        started = time.monotonic()
        [root] = submit_urls(
            [hosts[0].url("/")],
            db=db,
            dispatcher=dispatcher(settings, redis),
            depth=2,
            max_children=6,
            child_limits=child_limits(settings),
        )
        with open(logs / "worker.log", "w") as log:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "worker",
                    "worker",
                    "--burst",
                    "--concurrency",
                    str(workers),
                ],
                env=os.environ,
                stderr=log,
                stdout=subprocess.DEVNULL,
                check=True,
                timeout=600,
            )
        seconds = time.monotonic() - started
        with db.read() as session:
            jobs = {job.id: job for job in session.exec(select(ScanJob))}
            children = list(session.exec(select(ScanChild)))
            claims = [
                row
                for row in session.exec(select(AuditLog))
                if (row.from_state, row.to_state) == ("QUEUED", "FETCHING")
            ]
        wait_for_terminal(db, list(jobs), timeout_s=1)
        fetched = sum(len(host.hits) for host in hosts)
    redis.close()
    dispatched = _dispatch_times(logs)
    first_claim: dict[str, datetime] = {}
    for claim in claims:
        if claim.job_id not in first_claim or claim.at < first_claim[claim.job_id]:
            first_claim[claim.job_id] = claim.at
    made: dict[str, list[str]] = {}
    linked: dict[str, int] = {}
    for row in children:
        if row.created:
            made.setdefault(row.parent_id, []).append(row.job_id)
        else:
            linked[row.parent_id] = linked.get(row.parent_id, 0) + 1
    queued_ms, dispatched_ms, claimed_ms = [], [], []
    for parent_id, child_ids in made.items():
        finished = jobs[parent_id].finished_at
        assert finished is not None
        queued_ms += [
            (jobs[child].created_at - finished).total_seconds() * 1000 for child in child_ids
        ]
        if parent_id in dispatched:
            dispatched_ms.append((dispatched[parent_id] - finished).total_seconds() * 1000)
        claimed = [first_claim[child] for child in child_ids if child in first_claim]
        if claimed:
            claimed_ms.append((min(claimed) - finished).total_seconds() * 1000)
    states: dict[str, int] = {}
    for job in jobs.values():
        states[str(job.state)] = states.get(str(job.state), 0) + 1
    figures = {
        "pages": len(hosts),
        "workers": workers,
        "jobs": len(jobs),
        "states": states,
        "fetches": fetched,
        "duration_s": round(seconds, 2),
        "parents": len(made),
        "made_by_root": len(made.get(root, [])),
        "made_per_parent": sorted((len(ids) for ids in made.values()), reverse=True),
        "linked_per_parent": sorted(linked.values(), reverse=True),
        "completed_to_queued_ms": _summary(queued_ms),
        "completed_to_dispatched_ms": _summary(dispatched_ms),
        "completed_to_first_child_claimed_ms": _summary(claimed_ms),
    }
    text = json.dumps(figures, indent=2, sort_keys=True)
    print(text)
    if output is not None:
        output.write_text(text + "\n")
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path)
    arguments = parser.parse_args()
    main(arguments.workers, arguments.output)
