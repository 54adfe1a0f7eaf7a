"""The standby pool: made ahead with every limit and label, handed out once, always removed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services import poll
from tests.unit.standby.fakes import FakeDockerClient
from worker.containers.ownership import MAX_AGE_S
from worker.containers.spec import (
    LABEL_DEPLOYMENT,
    LABEL_HOST,
    LABEL_JOB,
    LABEL_MANAGED,
    LABEL_STANDBY,
    LABEL_WORKER,
    STANDBY_PREFIX,
    ContainerSpec,
)
from worker.containers.standby import StandbyPool

SPEC = ContainerSpec(
    image="scanbox-fetcher:test",
    timeout_ms=5000,
    memory_limit_mb=128,
    cpu_limit=0.5,
    pids_limit=64,
    tmpfs_mb=16,
    user="65534:65534",
    network="none",
    output_limit_bytes=4096,
    deployment="test-deployment",
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_pool(
    client: FakeDockerClient,
    *,
    size: int = 1,
    warm: bool = True,
    clock: Clock | None = None,
    worker_id: str = "host.1.abc",
) -> StandbyPool:
    return StandbyPool(
        client=client,
        spec=SPEC,
        command=["--timeout-ms", "1000", "--url-stdin"],
        worker_id=worker_id,
        host="host",
        size=size,
        warm=warm,
        clock=clock or Clock(),
    )


@pytest.fixture
def client() -> Iterator[FakeDockerClient]:
    fake = FakeDockerClient()
    yield fake
    fake.api.close_sockets()


def test_a_standby_container_has_every_limit_and_label(client: FakeDockerClient) -> None:
    standby = make_pool(client).make()
    options = client.api.containers[standby.container_id].options
    assert options["image"] == "scanbox-fetcher:test"
    assert options["command"] == ["--timeout-ms", "1000", "--url-stdin"]
    assert options["name"].startswith(STANDBY_PREFIX)
    assert (options["mem_limit"], options["memswap_limit"]) == ("128m", "128m")
    assert (options["cpu_period"], options["cpu_quota"]) == (500_000, 250_000)
    assert options["pids_limit"] == 64
    assert options["read_only"] is True
    assert options["tmpfs"] == {"/tmp": "rw,noexec,nosuid,nodev,size=16m"}
    assert options["cap_drop"] == ["ALL"]
    assert options["security_opt"] == ["no-new-privileges"]
    assert options["user"] == "65534:65534"
    assert options["init"] is True
    assert options["network_mode"] == "none"
    assert (options["stdin_open"], options["tty"]) == (True, False)
    assert options["labels"] == {
        LABEL_MANAGED: "true",
        LABEL_STANDBY: "true",
        LABEL_WORKER: "host.1.abc",
        LABEL_HOST: "host",
        LABEL_DEPLOYMENT: "test-deployment",
    }
    assert LABEL_JOB not in options["labels"]
    assert [call for call, _ in client.api.calls] == ["create", "attach", "start"]
    assert standby.started


def test_a_cold_standby_container_is_attached_but_not_started(client: FakeDockerClient) -> None:
    standby = make_pool(client, warm=False).make()
    assert [call for call, _ in client.api.calls] == ["create", "attach"]
    assert not standby.started


def test_a_container_that_cannot_start_is_removed(client: FakeDockerClient) -> None:
    client.api.fail_start = True
    with pytest.raises(Exception, match="could not prepare a standby container"):
        make_pool(client).make()
    assert [call for call, _ in client.api.calls] == ["create", "attach", "start", "remove"]


def test_the_pool_fills_in_the_background_and_removes_what_it_hands_out(
    client: FakeDockerClient,
) -> None:
    pool = make_pool(client, size=2)
    pool.open()
    try:
        poll(lambda: True if client.containers.created == 2 else None, timeout_s=5, what="filled")
        first = pool.take()
        pool.assign(first, "scanbox-" + "a" * 32 + "-1")
        pool.discard(first)
        poll(
            lambda: True if client.api.containers[first.container_id].removed else None,
            timeout_s=5,
            what="removed",
        )
        assert client.api.containers[first.container_id].name == "scanbox-" + "a" * 32 + "-1"
        # Never handed out again, and replaced.
        poll(lambda: True if client.containers.created == 3 else None, timeout_s=5, what="refill")
        second = pool.take()
        assert second.container_id != first.container_id
        pool.discard(second)
    finally:
        pool.close()
    assert all(container.removed for container in client.api.containers.values())
    assert len(client.api.containers) >= 3


def test_take_makes_one_when_none_is_ready(client: FakeDockerClient) -> None:
    pool = make_pool(client)  # never opened: nothing is made ahead
    standby = pool.take()
    assert standby.started
    pool.discard(standby)
    pool.close()
    assert client.api.containers[standby.container_id].removed


def test_old_standby_containers_are_not_handed_out(client: FakeDockerClient) -> None:
    clock = Clock()
    pool = make_pool(client, clock=clock)
    old = pool.make()
    pool._ready.put(old)
    clock.now += MAX_AGE_S
    fresh = pool.take()
    assert fresh.container_id != old.container_id
    pool.discard(fresh)
    pool.close()
    assert client.api.containers[old.container_id].removed
    assert client.api.containers[fresh.container_id].removed


def test_close_removes_the_ready_containers(client: FakeDockerClient) -> None:
    pool = make_pool(client, size=3)
    pool.open()
    poll(lambda: True if client.containers.created == 3 else None, timeout_s=5, what="filled")
    pool.close()
    assert len(client.api.containers) == 3
    assert all(container.removed for container in client.api.containers.values())


def test_close_removes_a_container_the_engine_made_while_its_answer_was_lost(
    client: FakeDockerClient,
) -> None:
    pool = make_pool(client, size=0)
    other = make_pool(client, size=0, worker_id="w-other")
    lost = client.containers.create("scanbox-fetcher:test", name="lost", labels=pool.labels())
    kept = client.containers.create("scanbox-fetcher:test", name="kept", labels=other.labels())
    pool.close()
    assert client.api.containers[lost.id].removed
    assert not client.api.containers[kept.id].removed
