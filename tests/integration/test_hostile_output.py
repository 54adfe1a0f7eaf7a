"""A fetcher that lies about its output: the cap counts what it wrote, and bytes stay bytes.

Each hostile fetcher is an image built on the fetcher image whose entry point writes
something other than one honest report, run by real worker processes on a real job.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from redis import Redis

from statemachine.states import State
from tests.integration.conftest import settings_from
from tests.services import worker_processes
from tests.support import report_bytes
from worker.app.clients import dispatcher
from worker.app.database import open_database
from worker.store import queries
from worker.submit.batch import submit_urls

#: Writes ``before`` to stdout as ``count`` separate writes, then a valid report (``report``).
WRITER = """
import os, sys
before, count, report = {before!r}, {count}, {report!r}
for _ in range(count):
    os.write(1, before)
os.write(1, report)
"""
#: 1.5 MB of empty lines before the report. JSON allows the white space, so only the byte
#: count can refuse it; the json-file log driver spends ~70 bytes on each line and rotated
#: them away, so what it kept of the output was under the cap.
BLANK_LINES = {"before": b"\n" * 1000, "count": 1500, "report": report_bytes()}
#: A report whose title holds a byte that is not UTF-8 (the log driver made it U+FFFD).
NOT_UTF8 = {
    "before": b"",
    "count": 0,
    "report": report_bytes(title="caf\udcff").replace(b"caf\\udcff", b"caf\xff"),
}


@pytest.fixture(scope="module")
def hostile_images(
    docker_client: docker.DockerClient, fetcher_image: str
) -> Iterator[dict[str, str]]:
    tags = {}
    for name, values in {"blank-lines": BLANK_LINES, "not-utf8": NOT_UTF8}.items():
        tag = f"scanbox-test-hostile-{name}:latest"
        program = WRITER.format(**values)
        entrypoint = json.dumps(["python3", "-c", program])
        dockerfile = f"FROM {fetcher_image}\nENTRYPOINT {entrypoint}\n".encode()
        docker_client.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True)
        tags[name] = tag
    yield tags
    for tag in tags.values():
        docker_client.images.remove(tag, force=True)


@pytest.mark.parametrize(
    ("image", "code"),
    [("blank-lines", "output_too_large"), ("not-utf8", "invalid_output")],
)
def test_hostile_output_fails_the_job(
    scan_env: dict[str, str],
    docker_client: docker.DockerClient,
    hostile_images: dict[str, str],
    tmp_path: Path,
    image: str,
    code: str,
) -> None:
    env = scan_env | {"FETCHER_IMAGE": hostile_images[image], "OUTPUT_LIMIT_BYTES": "1048576"}
    settings = settings_from(env)
    db = open_database(settings)
    redis = Redis.from_url(settings.effective_redis_url)
    [job_id] = submit_urls(["http://127.0.0.1:9/"], db=db, dispatcher=dispatcher(settings, redis))
    redis.close()
    with worker_processes(env, tmp_path) as workers:
        assert workers.run("--burst", "--concurrency", "1") == 0
    job = queries.get_job(db, job_id)
    assert (job.state, job.error_code, job.attempts) == (State.FAILED, code, 1), job.error_message
    assert queries.get_result(db, job_id) is None
