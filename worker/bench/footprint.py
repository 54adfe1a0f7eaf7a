"""Footprint: memory of worker processes, and the peak memory of one fetcher container.

Process memory comes from ``/proc`` (Linux). A container's peak is the cgroup's
``max_usage`` as the stats API reports it; a cgroup disappears when its container exits,
so the measured container runs the fetcher's own entrypoint and command under ``/bin/sh``,
which then sleeps until the peak is read and the container is removed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import docker

from worker.bench.baseline import bench_container
from worker.containers.egress import EgressSessions
from worker.containers.spec import ContainerSpec
from worker.errors import BenchmarkFailed

#: Where Linux describes processes.
PROC = Path("/proc")
#: Bytes in a mebibyte.
MIB = 1024 * 1024
#: How long the measured container keeps its cgroup after the fetcher exits.
HOLD_S = 60
#: How long to wait for the measured fetcher to print its report.
REPORT_TIMEOUT_S = 30.0
#: Prints the process's age (ms) at Python's first line: what the interpreter's start costs
#: before the fetcher imports anything (the runtime's set-up too, in a container without init).
PYTHON_START_PROGRAM = "from fetcher.startup import process_age; print(process_age() * 1000)"


@dataclass(frozen=True, kw_only=True)
class ProcessMemory:
    """One process's memory in MiB: resident now, its peak, and its proportional share."""

    pid: int
    rss_mib: float
    peak_rss_mib: float
    pss_mib: float | None


def _status_kib(pid: int, field: str) -> int:
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value.split()[0])
    raise BenchmarkFailed(f"/proc/{pid}/status has no {field}")


def _pss_kib(pid: int) -> int | None:
    try:
        text = (PROC / str(pid) / "smaps_rollup").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return None


def process_memory(pid: int) -> ProcessMemory:
    """The memory of process ``pid``."""
    pss = _pss_kib(pid)
    return ProcessMemory(
        pid=pid,
        rss_mib=round(_status_kib(pid, "VmRSS") / 1024, 1),
        peak_rss_mib=round(_status_kib(pid, "VmHWM") / 1024, 1),
        pss_mib=None if pss is None else round(pss / 1024, 1),
    )


def process_tree(pid: int) -> list[int]:
    """``pid`` and its child processes."""
    children: list[int] = []
    for task in (PROC / str(pid) / "task").iterdir():
        children += [int(child) for child in (task / "children").read_text().split()]
    return [pid, *children]


def container_peak_mib(
    api: docker.APIClient,
    *,
    spec: ContainerSpec,
    command: Sequence[str],
    egress: EgressSessions | None = None,
) -> float:
    """The peak memory (MiB) of one fetcher container fetching with ``command`` (through an
    egress session of its own with ``egress``)."""
    entrypoint = api.inspect_image(spec.image)["Config"]["Entrypoint"] or []
    hold = f'"$@"; exec sleep {HOLD_S}'
    with bench_container(
        api,
        spec,
        role="footprint",
        entrypoint=["/bin/sh", "-c", hold, "sh", *entrypoint],
        command=command,
        egress=egress,
    ) as container:
        api.start(container)
        deadline = time.monotonic() + REPORT_TIMEOUT_S
        while not api.logs(container, stdout=True, stderr=False).strip():
            if time.monotonic() > deadline:
                raise BenchmarkFailed("the measured fetcher printed no report")
            time.sleep(0.02)
        stats = api.stats(container, stream=False, one_shot=True)
    peak = stats.get("memory_stats", {}).get("max_usage")
    if not isinstance(peak, int):
        raise BenchmarkFailed("the stats API reported no max_usage (cgroup v1 only)")
    return round(peak / MIB, 1)


def python_start_ms(api: docker.APIClient, *, spec: ContainerSpec) -> float:
    """Process age (ms) at Python's first line in a fetcher container made like a scan's."""
    entrypoint = ["python3", "-S", "-c", PYTHON_START_PROGRAM]
    with bench_container(api, spec, role="python-start", entrypoint=entrypoint) as container:
        api.start(container)
        api.wait(container, timeout=REPORT_TIMEOUT_S)
        output = api.logs(container, stdout=True, stderr=False).strip()
    try:
        return round(float(output), 1)
    except ValueError:
        raise BenchmarkFailed(f"the interpreter start probe printed {output[:100]!r}") from None
