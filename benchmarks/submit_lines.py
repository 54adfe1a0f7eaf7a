"""``scanbox submit -`` of 100,000 URLs next to ``submit_urls`` in batches, in one run.

    python benchmarks/submit_lines.py [--count N] [--batch N] [--rounds R]

Each side runs as a process of its own on a fresh SQLite file (WAL, as in production) and a
Redis server this script starts on a free loopback port, with the default deduplication
window: ``submit -`` reads the URLs from a file on stdin and prints a job id a line (to a
file); the other calls ``worker.submit.submit_urls`` on batches of ``--batch`` URLs. The
sides alternate for ``--rounds`` rounds; each process's wall time and peak resident memory
(``wait4``) are kept, and ``submit -`` is also run on a tenth of the URLs, to show that its
memory does not grow with the list. Figures go to ``benchmarks/submit-lines.json`` and a
table to stdout. The URLs are never fetched (no worker runs).
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
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from redis import Redis  # noqa: E402

from tests.services import RedisServer, free_port  # noqa: E402

#: Where the figures are written.
OUTPUT = REPOSITORY / "benchmarks" / "submit-lines.json"

_BATCHES = """
import sys
from datetime import timedelta

from redis import Redis

from worker.app.database import open_database
from worker.app.services import dispatcher
from worker.settings import Settings
from worker.submit import submit_urls

settings = Settings()
db = open_database(settings)
rq = dispatcher(settings, Redis.from_url(settings.effective_redis_url))
batch = int(sys.argv[2])
with open(sys.argv[1]) as source:
    urls = source.read().split()
window = timedelta(milliseconds=settings.dedup_window_ms)
for start in range(0, len(urls), batch):
    submit_urls(urls[start : start + batch], db=db, dispatcher=rq, dedup_window=window)
"""


def _run(
    command: list[str], *, env: dict[str, str], stdin: Path | None, out: Path
) -> dict[str, Any]:
    """Run ``command``; its wall time (s), peak resident memory (MiB) and last stderr line."""
    started = time.monotonic()
    with out.open("w") as sink, stdin.open("rb") if stdin else open(os.devnull, "rb") as source:
        process = subprocess.Popen(
            command, env={**os.environ, **env}, stdin=source, stdout=sink,
            stderr=subprocess.PIPE, cwd=REPOSITORY,
        )  # fmt: skip
        assert process.stderr is not None
        errors = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started
    said = errors.decode(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"{command[:4]} failed: {said[-2000:]}")
    lines = said.strip().splitlines()
    return {
        "seconds": elapsed,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "summary": lines[-1] if lines else "",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    options = parser.parse_args()
    redis = RedisServer(port=free_port())
    redis.start()
    runs: dict[str, list[dict[str, Any]]] = {"submit -": [], "submit_urls": [], "small": []}
    try:
        with tempfile.TemporaryDirectory(prefix="scanbox-submit-lines-") as workdir:
            work = Path(workdir)
            full = work / "urls.txt"
            full.write_text("".join(f"http://127.0.0.1:9/item/{n}\n" for n in range(options.count)))
            small = work / "small.txt"
            small.write_text(
                "".join(f"http://127.0.0.1:9/item/{n}\n" for n in range(options.count // 10))
            )

            def env(name: str) -> dict[str, str]:
                return {
                    "TURSO_CONNECTION_URL": f"file:{work / name}.db",
                    "REDIS_URL": redis.url,
                    "QUEUE_NAME": f"bench-{name}",
                }

            streamed = [sys.executable, "-m", "worker", "submit", "-", "--batch-size"]
            streamed.append(str(options.batch))
            batched = [sys.executable, "-c", _BATCHES, str(full), str(options.batch)]
            for round_ in range(options.rounds):
                order = [("submit -", streamed), ("submit_urls", batched)]
                for name, command in order if round_ % 2 == 0 else order[::-1]:
                    stdin = full if name == "submit -" else None
                    label = f"{name.replace(' ', '').replace('-', 'stdin')}-{round_}"
                    runs[name].append(
                        _run(command, env=env(label), stdin=stdin, out=work / f"{label}.out")
                    )
                    redis_flush(redis)
                runs["small"].append(
                    _run(streamed, env=env(f"small-{round_}"), stdin=small, out=work / "s.out")
                )
                redis_flush(redis)
    finally:
        redis.stop()
    rows = []
    for name, count in (("submit -", options.count), ("submit_urls", options.count)):
        seconds = statistics.median(run["seconds"] for run in runs[name])
        rss = max(run["peak_rss_mib"] for run in runs[name])
        rows.append(_row(name, count=count, seconds=seconds, rss=rss))
    small_count = options.count // 10
    seconds = statistics.median(run["seconds"] for run in runs["small"])
    rss = max(run["peak_rss_mib"] for run in runs["small"])
    rows.append(_row("submit - (a tenth)", count=small_count, seconds=seconds, rss=rss))
    figures = {"batch": options.batch, "rounds": options.rounds, "rows": rows, "runs": runs}
    OUTPUT.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"{'side':<20} {'URLs':>8} {'seconds':>8} {'URLs/s':>8} {'peak RSS MiB':>13}")
    for row in rows:
        print(
            f"{row['side']:<20} {row['urls']:>8} {row['seconds']:>8} {row['urls_per_s']:>8} "
            f"{row['peak_rss_mib']:>13}"
        )
    return 0


def _row(side: str, *, count: int, seconds: float, rss: float) -> dict[str, object]:
    return {
        "side": side,
        "urls": count,
        "seconds": round(seconds, 2),
        "urls_per_s": round(count / seconds),
        "peak_rss_mib": round(rss, 1),
    }


def redis_flush(server: RedisServer) -> None:
    """Empty the benchmark's own Redis between runs (100,000 RQ jobs each)."""
    client = Redis.from_url(server.url)
    client.flushall()
    client.close()


if __name__ == "__main__":
    sys.exit(main())
