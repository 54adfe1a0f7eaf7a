"""Whoever can write to Redis can only ask for a scan: attacks through RQ, against a real worker.

Each attack names ``canary.hit``, a module the worker process could import (it is on its
``PYTHONPATH``): importing it writes one file and calling it another. A worker that runs
anything an RQ job names leaves the files behind; a scanbox worker leaves neither, logs each
refusal at error level with its RQ id, and moves the job to the failed registry.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import docker
import pytest
from redis import Redis
from rq import Callback, Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from statemachine.states import State
from tests.integration.conftest import settings_from
from tests.services import worker_processes
from tests.sites import serve
from worker.app.clients import dispatcher
from worker.app.database import open_database
from worker.store import queries
from worker.submit.batch import submit_urls

CANARY = """
import pathlib
HERE = pathlib.Path(__file__).parent
(HERE / "imported").write_text("the worker imported a module an RQ job named")


def hit(*args, **kwargs):
    (HERE / "called").write_text("the worker called a function an RQ job named")
"""


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    directory = tmp_path / "canary"
    directory.mkdir()
    (directory / "canary.py").write_text(CANARY)
    return directory


def _refusals(logs: Path) -> list[dict[str, object]]:
    lines = []
    for log in logs.glob("worker-*.log"):
        for line in log.read_text().splitlines():
            if line.startswith("{") and '"queue_job_refused"' in line:
                lines.append(json.loads(line))
    return lines


def test_a_queued_job_naming_anything_but_a_scan_is_never_imported_or_called(
    scan_env: dict[str, str], docker_client: docker.DockerClient, tmp_path: Path, canary: Path
) -> None:
    env = scan_env | {"PYTHONPATH": str(canary), "HOUSEKEEPING_INTERVAL_MS": "1000"}
    redis = Redis.from_url(env["REDIS_URL"])
    queue_name = env["QUEUE_NAME"]
    json_queue = Queue(queue_name, connection=redis, serializer=JSONSerializer)
    pickle_queue = Queue(queue_name, connection=redis)
    scan_id = "a" * 32
    attacks = [
        json_queue.enqueue("canary.hit", "x"),
        json_queue.enqueue("os.system", f"touch {canary / 'called'}"),
        json_queue.enqueue("subprocess.check_call", ["touch", str(canary / "called")]),
        json_queue.enqueue("builtins.eval", "__import__('canary').hit()"),
        json_queue.enqueue("worker.task.run_scan", scan_id, "extra"),
        json_queue.enqueue("worker.task.run_scan", job_id_arg=scan_id),
        json_queue.enqueue("worker.task.run_scan", "not-a-scan-job-id"),
        json_queue.enqueue("worker.task.run_scan", scan_id, on_success=Callback("canary.hit")),
        json_queue.enqueue("worker.task.run_scan", scan_id, on_failure=Callback("canary.hit")),
        json_queue.enqueue("worker.task.run_scan", scan_id, on_stopped=Callback("canary.hit")),
        pickle_queue.enqueue("canary.hit", "pickled"),
    ]
    blocker = json_queue.enqueue("worker.task.run_scan", "b" * 32)
    attacks.append(json_queue.enqueue("worker.task.run_scan", scan_id, depends_on=blocker))
    # An abandoned job in the started registry: RQ's maintenance runs its failure callback.
    abandoned = Job.create(
        "worker.task.run_scan",
        args=(scan_id,),
        connection=redis,
        serializer=JSONSerializer,
        on_failure=Callback("canary.hit"),
    )
    abandoned.save()
    redis.zadd(f"rq:wip:{queue_name}", {f"{abandoned.id}:lost": 1})

    with serve() as site:
        site.page("/", b"<title>still scanned</title>")
        settings = settings_from(env)
        db = open_database(settings)
        [job_id] = submit_urls([site.url("/")], db=db, dispatcher=dispatcher(settings, redis))
        with worker_processes(env, tmp_path) as workers:
            assert workers.run("--burst", "--concurrency", "1") == 0

    assert not (canary / "imported").exists()
    assert not (canary / "called").exists()
    refused = {str(line["rq_id"]): line for line in _refusals(tmp_path)}
    assert set(refused) >= {job.id for job in attacks}
    assert all(line["level"] == "error" for line in refused.values())
    assert refused[attacks[1].id]["callable"] == "os.system"
    failed = set(json_queue.failed_job_registry.get_job_ids())
    assert {job.id for job in attacks} <= failed
    assert json_queue.count == 0
    assert queries.get_job(db, job_id).state == State.COMPLETED
    redis.close()


def test_a_refused_job_is_logged_with_the_callable_it_named(
    scan_env: dict[str, str], docker_client: docker.DockerClient, tmp_path: Path, canary: Path
) -> None:
    env = scan_env | {"PYTHONPATH": str(canary)}
    redis = Redis.from_url(env["REDIS_URL"])
    job = Queue(env["QUEUE_NAME"], connection=redis, serializer=JSONSerializer).enqueue(
        "canary.hit", "x"
    )
    started = datetime.now(UTC)
    with worker_processes(env, tmp_path) as workers:
        assert workers.run("--burst", "--concurrency", "1") == 0
    [line] = _refusals(tmp_path)
    assert (line["rq_id"], line["callable"]) == (job.id, "canary.hit")
    assert "names 'canary.hit'" in str(line["reason"])
    assert datetime.fromisoformat(str(line["timestamp"])) >= started - timedelta(seconds=1)
    assert not (canary / "imported").exists()
    redis.close()
