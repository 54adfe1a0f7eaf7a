"""Worker replicas as separate containers sharing one Redis and one database server.

Each test makes its own two Docker networks: ``infra`` holds Redis, the in-project libSQL
server and the worker replicas; ``targets`` holds the web server being scanned, and the
fetcher containers the workers start join it (``FETCHER_NETWORK``), allowed to reach its
subnet only (``FETCHER_ALLOW_NETWORKS``). Fetchers can't reach Redis or the database. The
test process reaches Redis and the database through ports published on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import yaml
from docker.models.containers import Container
from redis import Redis
from rq import Queue, Worker
from rq.serializers import JSONSerializer
from sqlmodel import col, select

from statemachine.states import TERMINAL, State
from tests.containers import (
    LIBSQL_PORT,
    REDIS_PORT,
    STOP_TIMEOUT_S,
    TARGET_PORT,
    TEST_TUNINGS,
    ScratchContainers,
    build_redis_image,
    build_worker_image,
    host_port,
    replica_environment,
    subnet_of,
)
from tests.databases import REPOSITORY
from tests.integration.conftest import settings_from
from tests.services import poll
from worker.app.clients import dispatcher
from worker.containers.spec import LABEL_DEPLOYMENT, LABEL_HOST
from worker.store import queries
from worker.store.database import Database
from worker.store.models import AuditLog, ScanJob, ScanResult
from worker.submit.batch import submit_urls

#: Scans in the proof that replicas share work and survive a kill.
PROOF_SCANS = int(os.environ.get("SCANBOX_PROOF_SCANS", "200"))
#: Replicas in that proof; one of them is killed.
PROOF_REPLICAS = 3
#: Jobs that must be finished before the kill, so that the kill lands mid-run.
FINISHED_BEFORE_KILL = 60
#: Scans per throughput measurement.
THROUGHPUT_SCANS = 60
#: Seconds all scans of one test may take.
RUN_TIMEOUT_S = 420


@pytest.fixture(scope="module")
def images(docker_client: docker.DockerClient, fetcher_image: str) -> str:
    """Build the worker image from this checkout and the tests' Redis image."""
    build_redis_image(docker_client)
    return build_worker_image()


@dataclass
class Cluster:
    """Redis, a database server and a target on networks of the test's own; replicas on top."""

    containers: ScratchContainers
    env: dict[str, str]
    host_env: dict[str, str]
    target_url: str
    replicas: list[Container]
    db: Database

    def start_replicas(self, count: int) -> None:
        infra = self.containers.networks[0]
        for index in range(len(self.replicas), len(self.replicas) + count):
            self.replicas.append(self.containers.worker(index, network=infra, env=self.env))
        processes = len(self.replicas) * int(self.env["WORKER_CONCURRENCY"])
        redis = Redis.from_url(self.host_env["REDIS_URL"])
        queue = Queue(self.env["QUEUE_NAME"], connection=redis, serializer=JSONSerializer)
        poll(
            lambda: Worker.count(connection=redis, queue=queue) >= processes or None,
            timeout_s=120,
            what=f"{processes} RQ workers from {len(self.replicas)} replicas",
        )
        redis.close()

    def submit(self, count: int) -> list[str]:
        settings = settings_from(self.host_env)
        redis = Redis.from_url(settings.effective_redis_url)
        urls = [f"{self.target_url}?scan={n}" for n in range(count)]
        job_ids = submit_urls(urls, db=self.db, dispatcher=dispatcher(settings, redis))
        redis.close()
        return job_ids

    def wait_until_terminal(self, job_ids: list[str]) -> dict[str, ScanJob]:
        jobs = queries.wait_for_terminal(self.db, job_ids, timeout_s=RUN_TIMEOUT_S)
        left = [job for job in jobs.values() if State(job.state) not in TERMINAL]
        assert not left, f"jobs not terminal after {RUN_TIMEOUT_S}s: {self._explain(left)}"
        return jobs

    def _explain(self, jobs: list[ScanJob]) -> list[dict[str, object]]:
        """What the database and Redis say of jobs that did not finish."""
        redis = Redis.from_url(self.host_env["REDIS_URL"])
        pending = dispatcher(settings_from(self.host_env), redis).pending_job_ids()
        rq_keys = sorted(
            key.decode() if isinstance(key, bytes) else key for key in redis.keys("rq:*")
        )[:40]
        redis.close()
        return [
            {
                "job": job.id,
                "state": job.state,
                "attempts": job.attempts,
                "available_at": str(job.available_at),
                "trail": [
                    (row.to_state, row.actor, str(row.at), row.detail)
                    for row in queries.get_audit(self.db, job.id)
                ],
                "rq_pending": job.id in pending,
                "rq_keys": rq_keys,
            }
            for job in jobs[:5]
        ]


@pytest.fixture
def cluster(
    docker_client: docker.DockerClient, images: str, fetcher_image: str
) -> Iterator[Cluster]:
    containers = ScratchContainers(client=docker_client)
    try:
        infra = containers.network("infra")
        targets = containers.network("targets")
        redis = containers.redis(network=infra)
        libsql = containers.libsql(network=infra)
        target = containers.target(network=targets)
        database = f"replicas_{containers.run_id}"
        env = replica_environment(
            database_url=f"ws://{libsql.name}:{LIBSQL_PORT}/{database}",
            redis_url=f"redis://{redis.name}:{REDIS_PORT}/0",
            queue=f"replicas-{containers.run_id}",
            deployment=f"test-{containers.run_id}",
            fetcher_image=fetcher_image,
            fetcher_network=str(targets.name),
            allow_networks=subnet_of(targets),
        )
        host_env = env | {
            "TURSO_CONNECTION_URL": (f"ws://127.0.0.1:{host_port(libsql, LIBSQL_PORT)}/{database}"),
            "REDIS_URL": f"redis://127.0.0.1:{host_port(redis, REDIS_PORT)}/0",
        }
        db = Database(url=host_env["TURSO_CONNECTION_URL"])
        poll(lambda: _answers(db), timeout_s=60, what="the libSQL server container")
        yield Cluster(
            containers=containers,
            env=env,
            host_env=host_env,
            target_url=f"http://{target.name}:{TARGET_PORT}/",
            replicas=[],
            db=db,
        )
        db.dispose()
    finally:
        for replica in containers.containers:
            if replica.name and "-worker" in replica.name:
                _stop(replica)
        _remove_fetchers(docker_client, deployment=f"test-{containers.run_id}")
        containers.remove_all()


def _answers(db: Database) -> bool | None:
    try:
        db.create_schema()
    except Exception:
        return None
    return True


def _stop(container: Container) -> None:
    with contextlib.suppress(docker.errors.APIError):
        container.stop(timeout=STOP_TIMEOUT_S)


def _remove_fetchers(client: docker.DockerClient, *, deployment: str) -> None:
    for container in _fetchers(client, deployment=deployment):
        container.remove(force=True)


def _fetchers(
    client: docker.DockerClient, *, deployment: str, host: str | None = None
) -> list[Container]:
    labels = [f"{LABEL_DEPLOYMENT}={deployment}"]
    if host is not None:
        labels.append(f"{LABEL_HOST}={host}")
    return list(client.containers.list(all=True, filters={"label": labels}, ignore_removed=True))


def _hostname(replica: Container) -> str:
    """The host name a replica's worker ids start with (Docker's short container id)."""
    return str(replica.id)[:12]


@dataclass(frozen=True)
class Ledger:
    """Every job's audit trail and result, read once at the end."""

    jobs: dict[str, ScanJob]
    trails: dict[str, list[AuditLog]]
    results: dict[str, ScanResult]

    @classmethod
    def read(cls, db: Database, job_ids: list[str]) -> Ledger:
        with db.read() as session:
            jobs = {
                job.id: job
                for job in session.exec(select(ScanJob).where(col(ScanJob.id).in_(job_ids)))
            }
            trails: dict[str, list[AuditLog]] = {job_id: [] for job_id in job_ids}
            rows = session.exec(
                select(AuditLog)
                .where(col(AuditLog.job_id).in_(job_ids))
                .order_by(col(AuditLog.job_id), col(AuditLog.version))
            )
            for row in rows:
                trails[row.job_id].append(row)
            results = {
                result.job_id: result
                for result in session.exec(
                    select(ScanResult).where(col(ScanResult.job_id).in_(job_ids))
                )
            }
        return cls(jobs=jobs, trails=trails, results=results)

    def check(self) -> None:
        """Every job terminal exactly once, every attempt claimed once, every trail complete."""
        assert len(self.jobs) == len(self.trails)
        for job_id, job in self.jobs.items():
            trail = self.trails[job_id]
            assert [row.version for row in trail] == list(range(1, job.version + 1)), job_id
            assert (trail[0].from_state, trail[0].to_state) == (None, "QUEUED")
            for before, after in itertools.pairwise(trail):
                assert after.from_state == before.to_state, (job_id, before, after)
            terminal = [row for row in trail if State(row.to_state) in TERMINAL]
            assert terminal == [trail[-1]], (job_id, [row.to_state for row in trail])
            assert trail[-1].to_state == job.state
            claims = [row for row in trail if row.to_state == State.FETCHING.value]
            attempts = [(row.detail or {}).get("attempt") for row in claims]
            assert attempts == list(range(1, job.attempts + 1)), (job_id, attempts)
            assert job.state == State.COMPLETED, (job_id, job.error_code, job.error_message)
            assert self.results[job_id].attempt == job.attempts

    def completed_by(self) -> Counter[str]:
        """How many jobs each replica (by host name) completed."""
        return Counter(
            (trail[-1].actor or "").split(".")[0] for trail in self.trails.values() if trail
        )


@pytest.mark.timeout(RUN_TIMEOUT_S * 2 + 300)
def test_replicas_share_the_work_and_finish_a_killed_replicas_jobs(cluster: Cluster) -> None:
    cluster.start_replicas(PROOF_REPLICAS)
    victim = cluster.replicas[0]
    victim_host = _hostname(victim)
    job_ids = cluster.submit(PROOF_SCANS)

    def victim_mid_scan() -> str | None:
        counts = queries.count_by_state(cluster.db)
        if sum(counts[state.value] for state in TERMINAL) < FINISHED_BEFORE_KILL:
            return None
        with cluster.db.read() as session:
            return session.exec(
                select(ScanJob.id).where(
                    col(ScanJob.state).in_([State.FETCHING.value, State.ANALYZING.value]),
                    col(ScanJob.worker_id).startswith(f"{victim_host}."),
                )
            ).first()

    in_flight = poll(victim_mid_scan, timeout_s=RUN_TIMEOUT_S, what="the victim mid-scan")
    victim.kill()
    killed_at = time.monotonic()
    cluster.wait_until_terminal(job_ids)
    recovery_s = time.monotonic() - killed_at

    ledger = Ledger.read(cluster.db, job_ids)
    ledger.check()
    # The job the victim was running when it died was taken back and finished by another.
    trail = ledger.trails[in_flight]
    assert any(row.actor == "reaper" for row in trail), [(r.to_state, r.actor) for r in trail]
    assert not trail[-1].actor.startswith(victim_host)
    assert ledger.jobs[in_flight].attempts >= 2
    # Every replica did part of the work; the survivors finished what the victim left.
    done = ledger.completed_by()
    survivors = {_hostname(replica) for replica in cluster.replicas[1:]}
    assert done[victim_host] > 0
    assert all(done[host] > 0 for host in survivors), done
    assert sum(done.values()) == PROOF_SCANS
    # The victim's fetcher containers (running or standby) are reaped by the survivors.
    client = cluster.containers.client
    deployment = cluster.env["SCANBOX_DEPLOYMENT"]
    poll(
        lambda: not _fetchers(client, deployment=deployment, host=victim_host) or None,
        timeout_s=120,
        what="the killed replica's containers to be reaped",
    )
    reaped = sum(1 for trail in ledger.trails.values() if any(r.actor == "reaper" for r in trail))
    print(
        f"\nreplica proof: {PROOF_SCANS} scans on {PROOF_REPLICAS} replicas, one killed; "
        f"completed per replica {dict(done)}; {reaped} jobs taken back from the killed "
        f"replica; all terminal {recovery_s:.1f}s after the kill"
    )


@pytest.mark.timeout(RUN_TIMEOUT_S + 300)
@pytest.mark.parametrize("replicas", [1, 2, 4])
def test_throughput_with_replicas(
    cluster: Cluster, replicas: int, figures: list[dict[str, object]]
) -> None:
    cluster.start_replicas(replicas)
    job_ids = cluster.submit(THROUGHPUT_SCANS)
    cluster.wait_until_terminal(job_ids)
    ledger = Ledger.read(cluster.db, job_ids)
    ledger.check()
    first_claim = min(
        row.at for trail in ledger.trails.values() for row in trail if row.to_state == "FETCHING"
    )
    last_finish = max(trail[-1].at for trail in ledger.trails.values())
    seconds = (last_finish - first_claim).total_seconds()
    done = ledger.completed_by()
    figure = {
        "replicas": replicas,
        "worker_processes": replicas * int(cluster.env["WORKER_CONCURRENCY"]),
        "scans": THROUGHPUT_SCANS,
        "seconds": round(seconds, 2),
        "scans_per_second": round(THROUGHPUT_SCANS / seconds, 2),
        "completed_per_replica": sorted(done.values(), reverse=True),
    }
    figures.append(figure)
    print(f"\nthroughput: {figure}")
    assert len(done) == replicas


def test_compose_file_is_valid_and_its_worker_matches_the_replicas() -> None:
    """``compose.yaml``: what ``docker-compose config`` accepts, with the replicas' settings."""
    import shutil  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    compose = shutil.which("docker-compose")
    if compose is None:
        from tests.services import unavailable  # noqa: PLC0415

        unavailable("docker-compose (Debian's docker-compose package; run scripts/setup.sh)")
    command = [compose, "-f", str(REPOSITORY / "compose.yaml"), "config"]
    bare = {name: value for name, value in os.environ.items() if name != "SCANBOX_REDIS_PASSWORD"}
    refused = subprocess.run(
        command, capture_output=True, text=True, cwd=REPOSITORY, env=bare, check=False
    )
    assert refused.returncode != 0
    assert "SCANBOX_REDIS_PASSWORD" in refused.stderr
    rendered = subprocess.run(
        command,
        check=True,
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        env=bare | {"SCANBOX_REDIS_PASSWORD": "s3cret-for-the-test"},
    ).stdout
    config = yaml.safe_load(rendered)
    services = config["services"]
    assert set(services) == {"redis", "libsql", "fetcher", "egress", "worker", "api"}
    # The fetchers' way out is alone on its network, and shares its sockets with the workers.
    egress = services["egress"]
    assert egress["command"] == ["egress"]
    assert set(egress["networks"]) == {"outside"}
    assert egress["environment"]["EGRESS_DIR"] == services["worker"]["environment"]["EGRESS_DIR"]
    assert set(egress["volumes"]) & set(services["worker"]["volumes"])
    # The API reads the database and Redis; it never holds the Docker socket.
    api = services["api"]
    assert api["command"][0] == "api"
    assert not any("docker.sock" in str(volume) for volume in api.get("volumes", []))
    assert api["environment"]["REDIS_URL"] == "redis://:s3cret-for-the-test@redis:6379/0"
    assert (
        api["environment"]["TURSO_CONNECTION_URL"]
        == services["worker"]["environment"]["TURSO_CONNECTION_URL"]
    )
    assert all(str(port).startswith("127.0.0.1:") for port in api["ports"])
    worker = services["worker"]
    keys = set(
        replica_environment(
            database_url="",
            redis_url="",
            queue="",
            deployment="",
            fetcher_image="",
            fetcher_network="",
            allow_networks="",
        )
    )
    assert set(worker["environment"]) == keys - set(TEST_TUNINGS)
    assert worker["image"] == "scanbox-worker:latest"
    assert worker["command"] == ["worker"]
    assert "/var/run/docker.sock:/var/run/docker.sock:rw" in worker["volumes"]
    assert worker["environment"]["TURSO_CONNECTION_URL"].startswith("ws://libsql:")
    assert worker["environment"]["REDIS_URL"] == "redis://:s3cret-for-the-test@redis:6379/0"
    redis_command = services["redis"]["command"]
    assert redis_command[redis_command.index("--requirepass") + 1] == "s3cret-for-the-test"
    # Fetchers never share a network with Redis or the database.
    assert worker["environment"]["FETCHER_NETWORK"] not in {
        str(name) for name in (config.get("networks") or {})
    } | {f"{Path(REPOSITORY).name}_default"}
