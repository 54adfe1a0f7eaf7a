"""The options every fetcher container is made with."""

from __future__ import annotations

import dataclasses

from worker.containers.spec import ContainerSpec, fetcher_host_options

SPEC = ContainerSpec(
    image="scanbox-fetcher:test",
    timeout_ms=1000,
    memory_limit_mb=128,
    cpu_limit=0.5,
    pids_limit=64,
    tmpfs_mb=16,
    user="65534:65534",
    network="none",
)


def test_the_engines_init_is_pid_1_unless_turned_off() -> None:
    assert fetcher_host_options(SPEC)["init"] is True
    assert "init" not in fetcher_host_options(dataclasses.replace(SPEC, init=False))


def test_a_runtime_is_named_only_when_one_is_configured() -> None:
    assert "runtime" not in fetcher_host_options(SPEC)
    assert fetcher_host_options(dataclasses.replace(SPEC, runtime="runsc"))["runtime"] == "runsc"


def test_the_cpu_limit_is_a_quota_over_the_configured_period() -> None:
    options = fetcher_host_options(dataclasses.replace(SPEC, cpu_limit=1.5, cpu_period_ms=200))

    assert (options["cpu_period"], options["cpu_quota"]) == (200_000, 300_000)
    assert "nano_cpus" not in options
