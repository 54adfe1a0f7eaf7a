"""The scan pipeline end to end: real Redis, real Docker, real worker processes."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import docker
import pytest
from redis import Redis

from statemachine.states import State
from tests.integration.conftest import scanbox_containers, settings_from
from tests.services import worker_processes
from tests.sites import serve, silent_listener
from tests.support import FakeDispatcher
from worker.app.clients import dispatcher
from worker.app.database import open_database
from worker.containers.spec import Limits
from worker.scan.claim import claim_job
from worker.store import queries
from worker.store.database import Database
from worker.submit.batch import submit_urls

PAGE = (
    b"<!doctype html><html><head><title>  Integration \n page </title></head>"
    b"<body><p>scanbox</p></body></html>"
)


def _submit(env: dict[str, str], urls: list[str]) -> tuple[Database, list[str]]:
    settings = settings_from(env)
    db = open_database(settings)
    redis = Redis.from_url(settings.effective_redis_url)
    ids = submit_urls(urls, db=db, dispatcher=dispatcher(settings, redis))
    redis.close()
    return db, ids


def _trail(db: Database, job_id: str) -> list[tuple[str | None, str]]:
    return [(row.from_state, row.to_state) for row in queries.get_audit(db, job_id)]


def test_scan_of_a_local_page_completes(
    scan_env: dict[str, str], docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    with serve() as site:
        site.page("/", PAGE)
        db, [job_id] = _submit(scan_env, [site.url("/")])
        with worker_processes(scan_env, tmp_path) as workers:
            assert workers.run("--burst", "--concurrency", "1") == 0
    job = queries.get_job(db, job_id)
    assert job.state == State.COMPLETED, job.error_message
    assert (job.version, job.attempts, job.exit_code, job.oom_killed) == (4, 1, 0, False)
    assert job.container_id
    assert len(job.container_id) == 64
    assert (job.timeout_ms, job.memory_limit_mb, job.cpu_limit) == (30000, 128, 0.5)
    result = queries.get_result(db, job_id)
    assert result is not None
    assert result.status_code == 200
    assert result.title == "Integration page"
    assert result.sha256 == hashlib.sha256(PAGE).hexdigest()
    assert result.size == len(PAGE)
    assert result.report["peer"]["address"] == "127.0.0.1"
    assert _trail(db, job_id) == [
        (None, "QUEUED"),
        ("QUEUED", "FETCHING"),
        ("FETCHING", "ANALYZING"),
        ("ANALYZING", "COMPLETED"),
    ]
    assert site.hits == ["/"]
    assert scanbox_containers(docker_client, [job_id]) == []


def test_a_target_that_never_answers_times_out(
    scan_env: dict[str, str], docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    env = scan_env | {"CONTAINER_TIMEOUT_MS": "3000", "FETCH_TIMEOUT_MS": "20000"}
    with silent_listener() as port:
        db, [job_id] = _submit(env, [f"http://127.0.0.1:{port}/"])
        with worker_processes(env, tmp_path) as workers:
            assert workers.run("--burst", "--concurrency", "1") == 0
    job = queries.get_job(db, job_id)
    assert (job.state, job.error_code) == (State.TIMED_OUT, "container_timeout")
    assert _trail(db, job_id)[-1] == ("FETCHING", "TIMED_OUT")
    assert queries.get_result(db, job_id) is None
    assert scanbox_containers(docker_client, [job_id]) == []


def test_the_fetch_deadline_inside_the_container_times_out_too(
    scan_env: dict[str, str], docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    env = scan_env | {"CONTAINER_TIMEOUT_MS": "20000", "FETCH_TIMEOUT_MS": "1500"}
    with silent_listener() as port:
        db, [job_id] = _submit(env, [f"http://127.0.0.1:{port}/"])
        with worker_processes(env, tmp_path) as workers:
            assert workers.run("--burst", "--concurrency", "1") == 0
    job = queries.get_job(db, job_id)
    assert (job.state, job.error_code) == (State.TIMED_OUT, "fetch_timeout")
    assert scanbox_containers(docker_client, [job_id]) == []


@pytest.fixture(scope="module")
def broken_images(docker_client: docker.DockerClient, fetcher_image: str) -> dict[str, str]:
    """Images built on the fetcher image that crash, print garbage, or print too much."""
    programs = {
        "crash": "import sys; sys.stderr.write('fetcher exploded\\n'); sys.exit(3)",
        "garbage": "print('this is not json')",
        "flood": "import sys; sys.stdout.write('x' * (3 * 1024 * 1024))",
        "oom": "b = bytearray(512 * 1024 * 1024); print(len(b))",
    }
    tags = {}
    for name, program in programs.items():
        tag = f"scanbox-test-{name}:latest"
        entrypoint = json.dumps(["python3", "-c", program])
        content = f"FROM {fetcher_image}\nENTRYPOINT {entrypoint}\n".encode()
        docker_client.images.build(fileobj=io.BytesIO(content), tag=tag, rm=True)
        tags[name] = tag
    return tags


@pytest.mark.parametrize(
    ("image", "state", "code", "exit_code"),
    [
        ("crash", State.FAILED, "container_crashed", 3),
        ("garbage", State.FAILED, "invalid_output", 0),
        ("flood", State.FAILED, "output_too_large", 0),
        ("oom", State.FAILED, "oom_killed", 137),
    ],
)
def test_broken_fetchers_fail_the_job(
    scan_env: dict[str, str],
    docker_client: docker.DockerClient,
    broken_images: dict[str, str],
    tmp_path: Path,
    image: str,
    state: State,
    code: str,
    exit_code: int,
) -> None:
    env = scan_env | {"FETCHER_IMAGE": broken_images[image], "CONTAINER_MEMORY_LIMIT_MB": "64"}
    db, [job_id] = _submit(env, ["http://127.0.0.1:9/"])
    with worker_processes(env, tmp_path) as workers:
        assert workers.run("--burst", "--concurrency", "1") == 0
    job = queries.get_job(db, job_id)
    assert (job.state, job.error_code, job.attempts) == (state, code, 1), job.error_message
    if exit_code:
        assert job.exit_code == exit_code
        assert job.oom_killed == (image == "oom")
    if image == "crash":
        assert "fetcher exploded" in (job.error_message or "")
    assert scanbox_containers(docker_client, [job_id]) == []


def _claim_in_process(
    url: str,
    job_ids: list[str],
    barrier: multiprocessing.synchronize.Barrier,
    results: multiprocessing.queues.Queue[tuple[str, bool]],
) -> None:
    """Race the other processes for each job in turn: all claim it at once, after a barrier."""
    db = Database(url=url)
    for job_id in job_ids:
        barrier.wait(timeout=60)
        claim = claim_job(
            db,
            job_id=job_id,
            worker_id=f"racer-{multiprocessing.current_process().pid}",
            limits=Limits(timeout_ms=1000, memory_limit_mb=64, cpu_limit=0.5, pids_limit=64),
            lease=timedelta(minutes=1),
            now=datetime.now(UTC),
        )
        results.put((job_id, claim is not None))
    db.dispose()


@pytest.mark.backends
@pytest.mark.parametrize("racers", [2, 4])
def test_racing_workers_claim_a_job_exactly_once(database_url: str, racers: int) -> None:
    db = Database(url=database_url)
    job_ids = submit_urls(
        [f"http://127.0.0.1/{n}" for n in range(10)], db=db, dispatcher=FakeDispatcher()
    )
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(racers)
    results: multiprocessing.queues.Queue[tuple[str, bool]] = context.Queue()
    processes = [
        context.Process(target=_claim_in_process, args=(database_url, job_ids, barrier, results))
        for _ in range(racers)
    ]
    for process in processes:
        process.start()
    outcomes: dict[str, list[bool]] = {job_id: [] for job_id in job_ids}
    for _ in range(racers * len(job_ids)):
        job_id, won = results.get(timeout=90)
        outcomes[job_id].append(won)
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    for job_id in job_ids:
        assert sorted(outcomes[job_id]) == [False] * (racers - 1) + [True]
        assert [to for _, to in _trail(db, job_id)] == ["QUEUED", "FETCHING"]
        assert queries.get_job(db, job_id).version == 2
    db.dispose()


def test_a_job_dispatched_twice_runs_once(
    scan_env: dict[str, str], docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    with serve() as site:
        site.page("/", PAGE)
        db, [job_id] = _submit(scan_env, [site.url("/")])
        settings = settings_from(scan_env)
        redis = Redis.from_url(settings.effective_redis_url)
        dispatcher(settings, redis).dispatch([job_id], priority="normal")
        redis.close()
        with worker_processes(scan_env, tmp_path) as workers:
            first = workers.start("--burst", "--concurrency", "1")
            second = workers.start("--burst", "--concurrency", "1")
            assert first.wait(timeout=120) == 0
            assert second.wait(timeout=120) == 0
    assert queries.get_job(db, job_id).state == State.COMPLETED
    assert [to for _, to in _trail(db, job_id)].count("FETCHING") == 1
    assert site.hits == ["/"]
