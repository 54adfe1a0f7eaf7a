"""What the fetcher has imported when its first request leaves, direct and through the proxy.

Runs ``python3 -X importtime -S -m fetcher`` (as the image does) on a page served on
127.0.0.1, with a harness that notes ``sys.modules`` when the first request head is sent
(``PinnedConnection.send``). For each fetcher source given (a directory holding the
``fetcher`` package; default: this checkout) it prints the modules loaded by then and their
import time (``-X importtime`` self times, summed), directly and, for a source that has
``--proxy-socket``, through a real egress proxy; and, from plain runs without the harness
or ``-X importtime``, the median of the fetcher's own ``timings.startup_ms`` (its
interpreter's start to its first request sent). To compare with main::

    mkdir /tmp/fetcher-main && git archive main fetcher | tar -x -C /tmp/fetcher-main
    .venv/bin/python benchmarks/fetcher_imports.py /tmp/fetcher-main .
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fetcher.ports import parse_port_policy
from worker.bench.site import serve_page
from worker.egress.client import EgressClient
from worker.egress.config import EgressConfig
from worker.egress.proxy import EgressProxy

#: Runs the fetcher as ``-m fetcher`` would, noting the modules at its first request.
HARNESS = """
import sys
import fetcher.connection as connection
seen = []
send = connection.PinnedConnection.send
def noting(self, data):
    if not seen:
        seen.append(sorted(sys.modules))
    return send(self, data)
connection.PinnedConnection.send = noting
import runpy
sys.argv = ["fetcher", *sys.argv[1:]]
try:
    runpy.run_module("fetcher", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
sys.stderr.write("MODULES " + repr(seen[0] if seen else []) + "\\n")
"""
#: The options that let the fetcher reach the page on loopback.
ALLOW = ["--allow-network", "127.0.0.1/32", "--allowed-ports", "any"]
#: Runs per variant; the import times printed are medians.
RUNS = 25


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="*", default=["."], help="directories with fetcher/")
    arguments = parser.parse_args()
    results: dict[str, tuple[set[str], float, float]] = {}
    with serve_page() as url, running_proxy() as socket_path:
        for source in arguments.sources:
            directory = str(Path(source).resolve())
            results[f"{source} direct"] = measure(directory, [url, *ALLOW])
            if "--proxy-socket" in (Path(directory) / "fetcher" / "options.py").read_text():
                results[f"{source} proxy"] = measure(
                    directory,
                    [url, *ALLOW, "--proxy-socket", socket_path],
                )
    baseline_name, (baseline, _, _) = next(iter(results.items()))
    print(f"{RUNS} runs each, medians")
    print(
        f"{'variant':<34} {'modules':>8} {'import ms':>10} {'startup_ms':>11}  vs {baseline_name}"
    )
    for name, (modules, imports_ms, startup_ms) in results.items():
        added = sorted(modules - baseline)
        removed = sorted(baseline - modules)
        print(
            f"{name:<34} {len(modules):>8} {imports_ms:>10.2f} {startup_ms:>11.2f}"
            f"  +{added} -{removed}"
        )


def measure(directory: str, arguments: list[str]) -> tuple[set[str], float, float]:
    """The modules loaded at the first request, the median of their import time (ms), and
    the median of the fetcher's own start-up (ms) in plain runs."""
    modules: set[str] = set()
    times: list[float] = []
    startups: list[float] = []
    for turn in range(RUNS + 1):
        traced = _run(directory, ["-X", "importtime", "-S", "-c", HARNESS, *arguments])
        plain = _run(directory, ["-S", "-m", "fetcher", *arguments])
        modules, microseconds = parse(traced.stderr)
        if turn:  # the first turn compiles the bytecode and warms the page cache
            times.append(microseconds / 1000)
            startups.append(float(json.loads(plain.stdout)["timings"]["startup_ms"]))
    return modules, statistics.median(times), statistics.median(startups)


def _run(directory: str, arguments: list[str]) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(
        [sys.executable, *arguments],
        cwd=directory,
        env={"PYTHONPATH": directory},
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(run.stdout)
    if report["status_code"] != 200:
        raise SystemExit(f"the fetch failed: {report['error']}")
    return run


def parse(stderr: str) -> tuple[set[str], float]:
    """The modules of the harness's note, and the import self time (µs) of those it timed."""
    noted: list[str] = []
    self_times: dict[str, int] = {}
    for line in stderr.splitlines():
        if line.startswith("MODULES "):
            noted = eval(line.removeprefix("MODULES "), {})  # noqa: S307 (our own repr of a list)
        elif line.startswith("import time:") and "|" in line and "self [us]" not in line:
            self_us, _cumulative, name = line.removeprefix("import time:").split("|")
            self_times[name.strip()] = int(self_us)
    modules = {name for name in noted if not name.startswith("_harness")}
    return modules, float(sum(self_times.get(name, 0) for name in modules))


@contextmanager
def running_proxy() -> Iterator[str]:
    """A real egress proxy allowing 127.0.0.1; yields one session's socket path."""
    with tempfile.TemporaryDirectory(prefix="sbx-imports-") as directory:
        config = EgressConfig(
            directory=Path(directory) / "egress",
            allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),),
            allowed_ports=parse_port_policy("any"),
            session_max_connections=10_000,
        )
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        proxy = EgressProxy(config, logger=_Quiet())
        asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)
        try:
            session = EgressClient(control_socket=config.control_socket).open_session(
                label="imports", ttl_ms=3_600_000
            )
            yield str(session.socket_path)
        finally:
            asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()


class _Quiet:
    """A logger that keeps the proxy's lines out of the figures."""

    def __getattr__(self, _level: str) -> object:
        return lambda *_args, **_fields: None


if __name__ == "__main__":
    main()
