"""The limit: the fetcher container's bare lifecycle through the low-level Docker SDK.

create → start → wait → read stdout → remove, nothing else: no database, no queue, no
validation. It runs the same image and command under the same limits as a scan does, with
an egress session of its own when scans have one, so the difference from a scan is what
scanbox adds.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import docker

from worker.containers.egress import SESSION_MARGIN_MS, EgressSessions, with_proxy
from worker.containers.spec import ContainerSpec, fetcher_host_options

#: Label on the benchmark's own containers, so that a leftover one can be told apart.
LABEL_BENCH = "org.scanbox.bench"
#: Milliseconds in a second.
MS = 1000.0


@dataclass(frozen=True, kw_only=True)
class BareRun:
    """One bare container lifecycle and how long each step of it took (milliseconds); through
    the egress proxy, ``create_ms`` includes opening the container's session and
    ``remove_ms`` closing it, as a scan's runner does."""

    total_ms: float
    create_ms: float
    start_ms: float
    wait_ms: float
    logs_ms: float
    remove_ms: float
    exit_code: int
    #: The fetcher's own start-up time, from its report (``timings.startup_ms``).
    startup_ms: float | None


def host_config(
    api: docker.APIClient, spec: ContainerSpec, *, binds: dict[str, dict[str, str]] | None = None
) -> dict[str, Any]:
    """The host configuration of a fetcher container: the limits a scan runs under (and the
    egress session's directory, mounted as a scan's is)."""
    config: dict[str, Any] = api.create_host_config(**fetcher_host_options(spec), binds=binds)
    return config


@contextmanager
def bench_container(
    api: docker.APIClient,
    spec: ContainerSpec,
    *,
    role: str,
    command: Sequence[str] | None = None,
    entrypoint: Sequence[str] | None = None,
    egress: EgressSessions | None = None,
) -> Iterator[str]:
    """A fetcher container made as a scan's (image, user, limits), labelled with ``role``;
    its id, and it is removed however the block ends.

    With ``egress``, the container gets a session of its own, as a scan's does: mounted, its
    options before ``command``, closed once the container is removed.
    """
    with ExitStack() as stack:
        binds = None
        if egress is not None:
            ttl_ms = spec.timeout_ms + SESSION_MARGIN_MS
            session = egress.open(label=f"bench-{role}", ttl_ms=ttl_ms)
            stack.callback(egress.close, session)
            command, binds = with_proxy(command or [], session), session.volumes
        container: str = api.create_container(
            spec.image,
            entrypoint=None if entrypoint is None else list(entrypoint),
            command=None if command is None else list(command),
            user=spec.user,
            labels={LABEL_BENCH: role},
            host_config=host_config(api, spec, binds=binds),
        )["Id"]
        stack.callback(api.remove_container, container, force=True)
        yield container


def startup_ms(stdout: bytes) -> float | None:
    """``timings.startup_ms`` from a fetcher report, if the output is one."""
    try:
        value = json.loads(stdout)["timings"]["startup_ms"]
    except (ValueError, KeyError, TypeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def bare_run(
    api: docker.APIClient,
    *,
    spec: ContainerSpec,
    command: Sequence[str],
    egress: EgressSessions | None = None,
) -> BareRun:
    """Run the fetcher once: (open its egress session,) create, start, wait, read stdout,
    remove (, close the session)."""
    marks = [time.perf_counter()]
    with bench_container(api, spec, role="baseline", command=command, egress=egress) as container:
        marks.append(time.perf_counter())
        api.start(container)
        marks.append(time.perf_counter())
        exit_code = int(api.wait(container, timeout=spec.timeout_ms / MS)["StatusCode"])
        marks.append(time.perf_counter())
        stdout = api.logs(container, stdout=True, stderr=False)
        marks.append(time.perf_counter())
    marks.append(time.perf_counter())
    steps = [(after - before) * MS for before, after in itertools.pairwise(marks)]
    return BareRun(
        total_ms=(marks[-1] - marks[0]) * MS,
        create_ms=steps[0],
        start_ms=steps[1],
        wait_ms=steps[2],
        logs_ms=steps[3],
        remove_ms=steps[4],
        exit_code=exit_code,
        startup_ms=startup_ms(stdout),
    )


def run_sequential(
    api: docker.APIClient,
    *,
    spec: ContainerSpec,
    command: Sequence[str],
    count: int,
    egress: EgressSessions | None = None,
) -> list[BareRun]:
    """``count`` bare runs, one after another."""
    return [bare_run(api, spec=spec, command=command, egress=egress) for _ in range(count)]


def run_concurrent(
    open_api: Callable[[], docker.APIClient],
    *,
    spec: ContainerSpec,
    command: Sequence[str],
    count: int,
    concurrency: int,
    egress: EgressSessions | None = None,
) -> tuple[list[BareRun], float]:
    """``count`` bare runs, ``concurrency`` at a time, each thread with its own client.

    Returns the runs and the wall-clock seconds from the first create to the last remove.
    """
    local = threading.local()
    clients: list[docker.APIClient] = []
    lock = threading.Lock()

    def one(_index: int) -> BareRun:
        api = getattr(local, "api", None)
        if api is None:
            api = local.api = open_api()
            with lock:
                clients.append(api)
        return bare_run(api, spec=spec, command=command, egress=egress)

    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench") as pool:
            runs = list(pool.map(one, range(count)))
    finally:
        for api in clients:
            api.close()
    return runs, time.perf_counter() - started
