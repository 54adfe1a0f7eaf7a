"""A standby worker killed with SIGKILL: its unused containers are gone within two rounds.

Two ``scanbox worker`` processes keep standby containers (cold ones, which never exit by
themselves, and warm ones). The first is killed with SIGKILL; the second's housekeeping
finds the first's heartbeat lapsed and removes every container the first made, and none of
its own. Rounds are counted from the survivor's ``housekeeping_round`` log lines.
"""

from __future__ import annotations

import json
import os
import signal
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.integration.conftest import settings_from
from tests.services import poll, worker_processes
from worker.containers.spec import LABEL_DEPLOYMENT, LABEL_STANDBY, LABEL_WORKER

#: Short rounds, and debug lines so that each round is logged.
REAPING_ENV = {
    "CONTAINER_RUNNER": "standby",
    "STANDBY_CONTAINERS": "2",
    "HOUSEKEEPING_INTERVAL_MS": "1000",
    "LOG_LEVEL": "debug",
}


def _by_worker(client: docker.DockerClient, env: dict[str, str]) -> dict[str, set[str]]:
    """The standby containers of the test's deployment, by the worker that made them."""
    labels = [LABEL_STANDBY, f"{LABEL_DEPLOYMENT}={settings_from(env).deployment}"]
    found: dict[str, set[str]] = defaultdict(set)
    # One listing call (the SDK's list inspects each container, and one may go meanwhile).
    for container in client.api.containers(all=True, filters={"label": labels}):
        name = str(container["Names"][0]).lstrip("/")
        found[(container.get("Labels") or {}).get(LABEL_WORKER, "")].add(name)
    return dict(found)


def _events(log: Path) -> list[dict[str, Any]]:
    events = []
    for line in log.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        event["at"] = datetime.fromisoformat(event["timestamp"])
        events.append(event)
    return events


#: How long after a removal its log line may be stamped.
LOG_LINE_LAG = timedelta(seconds=1)


@pytest.mark.parametrize("warm", ["false", "true"])
def test_a_killed_standby_workers_containers_are_gone_within_two_rounds(
    scan_env: dict[str, str],
    docker_client: docker.DockerClient,
    tmp_path: Path,
    figures: list[dict[str, Any]],
    warm: str,
) -> None:
    env = scan_env | REAPING_ENV | {"STANDBY_WARM": warm}
    with worker_processes(env, tmp_path) as workers:
        doomed = workers.start("--concurrency", "1")
        [doomed_id] = poll(
            lambda: (
                [w for w, ids in _by_worker(docker_client, env).items() if len(ids) == 2] or None
            ),
            timeout_s=60,
            what="the first worker's two standby containers",
        )
        workers.start("--concurrency", "1")
        survivor_id, survivor_containers = poll(
            lambda: next(
                (
                    (w, ids)
                    for w, ids in _by_worker(docker_client, env).items()
                    if w != doomed_id and len(ids) == 2
                ),
                None,
            ),
            timeout_s=60,
            what="the second worker's two standby containers",
        )
        doomed_containers = _by_worker(docker_client, env)[doomed_id]
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
        killed_at = datetime.now(UTC)
        poll(
            lambda: True if doomed_id not in _by_worker(docker_client, env) else None,
            timeout_s=60,
            what="the killed worker's standby containers to be removed",
        )
        gone_at = datetime.now(UTC)
        left = _by_worker(docker_client, env)
        survivor_log = tmp_path / "worker-1.log"
        events = _events(survivor_log)

    # The survivor's own containers were not touched while the killed worker's were removed.
    assert left == {survivor_id: survivor_containers}
    # A warm one may have exited by itself first (its attach closed): then it is removed as
    # an exited container; a cold one never exits, and only the heartbeat's lapse removes it.
    removals = [
        event
        for event in events
        if event["event"] in ("dead_workers_standby_removed", "orphan_container_removed")
        and event.get("container") in doomed_containers
    ]
    assert len(removals) == len(doomed_containers) == 2
    if warm == "false":
        assert {event["event"] for event in removals} == {"dead_workers_standby_removed"}
        assert {event["dead_worker"] for event in removals} == {doomed_id}
    removed_at = max(event["at"] for event in removals)
    # The removal's log line is written once the engine has removed the container, which the
    # poll above may see a moment before that line's timestamp is taken.
    assert killed_at <= removed_at <= gone_at + LOG_LINE_LAG
    rounds = [
        event["at"]
        for event in events
        if event["event"] == "housekeeping_round" and killed_at <= event["at"] <= removed_at
    ]
    assert 1 <= len(rounds) <= 2, rounds
    figures.append(
        {
            "scenario": f"kill -9 of a standby worker (warm={warm})",
            "containers_of_the_killed_worker": len(doomed_containers),
            "removed_in_round_after_kill": len(rounds),
            "containers_left": 0,
        }
    )
