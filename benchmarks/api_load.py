"""The HTTP API under a bounded load from a second process, next to ``submit_urls``.

    python benchmarks/api_load.py [--single N] [--batches N] [--gets N] [--concurrency C]

Starts a Redis of its own and ``scanbox api`` on loopback (one process, SQLite in WAL mode,
the per-key rate limit on: every request runs its Redis script), then a load process that
keeps ``--concurrency`` keep-alive connections busy: ``--single`` submissions of one URL,
``--batches`` submissions of 100 URLs, then ``--gets`` reads of ``GET /v1/scans/{id}`` over
the jobs made. In the same run, this process calls ``submit_urls`` itself, one URL a call and
100 a call, on a database of its own and the same Redis. No worker runs: jobs stay QUEUED.
Figures go to ``benchmarks/api-load.json`` and a table to stdout.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

#: Where the figures are written.
OUTPUT = REPOSITORY / "benchmarks" / "api-load.json"
#: URLs per batch.
BATCH = 100


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)]


def drive(
    port: int, key: str, phase: str, *, count: int, concurrency: int, ids: list[str]
) -> dict[str, Any]:
    """Run ``count`` requests of ``phase`` over ``concurrency`` connections; their figures."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    counter = iter(range(count))

    def work(worker: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                break
            if phase == "get":
                method, path, body = "GET", f"/v1/scans/{ids[index % len(ids)]}", None
            elif phase == "single":
                url = f"http://127.0.0.1:9/{phase}/{worker}/{index}"
                method, path, body = "POST", "/v1/scans", json.dumps({"url": url})
            else:
                urls = [f"http://127.0.0.1:9/{phase}/{index}/{n}" for n in range(BATCH)]
                method, path, body = "POST", "/v1/scans", json.dumps({"urls": urls})
            started = time.perf_counter()
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            answer.read()
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[answer.status] = statuses.get(answer.status, 0) + 1
        connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    urls = count * (BATCH if phase == "batch" else 1)
    return {
        "phase": phase,
        "requests": count,
        "concurrency": concurrency,
        "seconds": round(seconds, 2),
        "requests_per_s": round(count / seconds, 1),
        "urls_per_s": None if phase == "get" else round(urls / seconds, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(_percentile(latencies, 0.99), 2),
        "statuses": {str(status): n for status, n in statuses.items()},
    }


def _direct(redis_url: str, database: Path, single: int, batches: int) -> list[dict[str, Any]]:
    """``submit_urls`` called in this process: one URL a call, then 100 a call."""
    from redis import Redis  # noqa: PLC0415

    from worker.queue.dispatch import RQDispatcher  # noqa: PLC0415
    from worker.store.database import Database  # noqa: PLC0415
    from worker.submit.batch import submit_urls  # noqa: PLC0415

    db = Database(url=f"file:{database}")
    db.create_schema()
    redis = Redis.from_url(redis_url)
    dispatcher = RQDispatcher(redis=redis, base_queue="bench-direct", job_timeout_s=150)
    figures = []
    for phase, calls, size in (("single", single, 1), ("batch", batches, BATCH)):
        latencies = []
        started = time.perf_counter()
        for call in range(calls):
            urls = [f"http://127.0.0.1:9/direct-{phase}/{call}/{n}" for n in range(size)]
            began = time.perf_counter()
            submit_urls(urls, db=db, dispatcher=dispatcher)
            latencies.append((time.perf_counter() - began) * 1000)
        seconds = time.perf_counter() - started
        figures.append(
            {
                "phase": f"submit_urls {phase}",
                "calls": calls,
                "seconds": round(seconds, 2),
                "calls_per_s": round(calls / seconds, 1),
                "urls_per_s": round(calls * size / seconds, 1),
                "p50_ms": round(statistics.median(latencies), 2),
                "p99_ms": round(_percentile(latencies, 0.99), 2),
            }
        )
    redis.close()
    db.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=1500)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--gets", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--drive", nargs=4, metavar=("PORT", "KEY", "PHASE", "COUNT"))
    options = parser.parse_args()
    if options.drive:
        port, key, phase, count = options.drive
        ids = json.loads(sys.stdin.read() or "[]")
        figure = drive(
            int(port), key, phase, count=int(count), concurrency=options.concurrency, ids=ids
        )
        sys.stdout.write(json.dumps(figure) + "\n")
        return

    from tests.apiserver import api_server, make_key  # noqa: PLC0415
    from tests.services import RedisServer, free_port  # noqa: PLC0415
    from worker.store.database import Database  # noqa: PLC0415

    redis = RedisServer(port=free_port())
    redis.start()
    report: dict[str, Any] = {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            where = Path(scratch)
            env = {
                "TURSO_CONNECTION_URL": f"file:{where / 'api.db'}",
                "REDIS_URL": redis.url,
                "QUEUE_NAME": "bench-api",
                "API_RATE_LIMIT": "1000000000",
                "DEDUP_WINDOW_MS": "0",
                "LOG_LEVEL": "warning",
            }
            Database(url=env["TURSO_CONNECTION_URL"]).create_schema()
            _, key = make_key(env["TURSO_CONNECTION_URL"], scope="submit")
            figures = []
            with api_server(env, where) as server:
                ids: list[str] = []
                for phase, count in (
                    ("single", options.single),
                    ("batch", options.batches),
                    ("get", options.gets),
                ):
                    if phase == "get":
                        from sqlmodel import select  # noqa: PLC0415

                        from worker.store.models import ScanJob  # noqa: PLC0415

                        db = Database(url=env["TURSO_CONNECTION_URL"])
                        with db.read() as session:
                            ids = list(session.exec(select(ScanJob.id).limit(2000)))
                        db.dispose()
                    done = subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            "--concurrency",
                            str(options.concurrency),
                            "--drive",
                            str(server.port),
                            key,
                            phase,
                            str(count),
                        ],
                        input=json.dumps(ids),
                        capture_output=True,
                        text=True,
                        check=True,
                        timeout=600,
                    )
                    figures.append(json.loads(done.stdout))
            report["api"] = figures
            report["direct"] = _direct(
                redis.url, where / "direct.db", options.single, options.batches
            )
    finally:
        redis.stop()
    report["load_after"] = os.getloadavg()[0]
    OUTPUT.write_text(json.dumps(report, indent=2) + "\n")
    print("| what | requests or calls | per s | URLs per s | p50 ms | p99 ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for item in report["api"]:
        print(
            f"| API {item['phase']} (C={item['concurrency']}) | {item['requests']} | "
            f"{item['requests_per_s']} | {item['urls_per_s'] or '-'} | {item['p50_ms']} | "
            f"{item['p99_ms']} |"
        )
    for item in report["direct"]:
        print(
            f"| {item['phase']} | {item['calls']} | {item['calls_per_s']} | "
            f"{item['urls_per_s']} | {item['p50_ms']} | {item['p99_ms']} |"
        )


if __name__ == "__main__":
    main()
