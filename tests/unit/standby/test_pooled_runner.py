"""The pooled runner on a fake engine: the URL on stdin, the report line, every failure path."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from fetcher.options import URL_STDIN as FETCHER_URL_STDIN
from tests.services import poll
from tests.support import FakeRunner
from tests.unit.standby.fakes import FakeContainer, FakeDockerClient, frame
from tests.unit.standby.test_pool import SPEC
from worker.containers.attach import STDERR, STDOUT
from worker.containers.pooled import URL_STDIN, PooledRunner
from worker.containers.runner import RunRequest
from worker.containers.standby import StandbyPool
from worker.errors import (
    ContainerCrashed,
    ContainerTimedOut,
    OutputTooLarge,
)

OPTIONS = ["--timeout-ms", "1000"]
URL = "http://127.0.0.1:8080/page"
JOB = "a" * 32


def test_the_stdin_option_is_the_fetchers() -> None:
    assert URL_STDIN == FETCHER_URL_STDIN


def test_the_command_puts_the_url_after_the_options() -> None:
    assert request().command == [*OPTIONS, "--", URL]
    assert RunRequest(job_id=JOB, attempt=1, worker_id="w", url=URL).command == ["--", URL]


Engine = Callable[[FakeContainer, bytes], None]


def _serve(client: FakeDockerClient, engine: Engine) -> None:
    """Play the engine for the next container handed out: read its URL, then ``engine``."""

    def play() -> None:
        container = poll(
            lambda: next(
                (c for c in client.api.containers.values() if c.started and not c.removed),
                None,
            ),
            timeout_s=5,
            what="a started container",
        )
        side = container.engine_side
        received = b""
        while not received.endswith(b"\n"):
            chunk = side.recv(4096)
            if not chunk:
                break
            received += chunk
        engine(container, received)

    threading.Thread(target=play, daemon=True).start()


@pytest.fixture
def setup() -> Iterator[tuple[FakeDockerClient, PooledRunner, FakeRunner]]:
    client = FakeDockerClient()
    pool = StandbyPool(
        client=client,
        spec=SPEC,
        command=[*OPTIONS, URL_STDIN],
        worker_id="w",
        host="h",
        size=1,
        warm=True,
    )
    fallback = FakeRunner()
    runner = PooledRunner(
        client=client,
        spec=SPEC,
        pool=pool,
        options=OPTIONS,
        fallback=fallback,
    )
    yield client, runner, fallback
    pool.close()
    client.api.close_sockets()
    assert all(container.removed for container in client.api.containers.values())


def request(options: list[str] | None = None) -> RunRequest:
    return RunRequest(job_id=JOB, attempt=2, worker_id="w", url=URL, options=options or OPTIONS)


def test_the_url_goes_in_on_stdin_and_the_report_line_comes_out(
    setup: tuple[FakeDockerClient, PooledRunner, FakeRunner],
) -> None:
    client, runner, _ = setup
    seen: list[bytes] = []

    def engine(container: FakeContainer, received: bytes) -> None:
        seen.append(received)
        # The report, then nothing: the runner must not wait for the end of the stream.
        container.engine_side.sendall(frame(STDERR, b"note\n") + frame(STDOUT, b'{"ok":1}\n'))

    _serve(client, engine)
    run = runner.run(request())
    assert seen == [URL.encode() + b"\n"]
    assert run.stdout == b'{"ok":1}\n'
    container = client.api.containers[run.container_id]
    runner.pool.close()
    assert container.name == f"scanbox-{JOB}-2"
    assert container.removed
    assert ("wait", run.container_id) not in client.api.calls


def test_other_options_run_on_the_fallback(
    setup: tuple[FakeDockerClient, PooledRunner, FakeRunner],
) -> None:
    client, runner, fallback = setup
    fallback.behaviours.append(b"from the fallback")
    options = ["--if-none-match", '"x"', *OPTIONS]
    run = runner.run(request(options))
    assert run.stdout == b"from the fallback"
    assert [sent.command for sent in fallback.requests] == [[*options, "--", URL]]
    assert client.containers.created == 0


def test_output_that_ends_without_a_report_is_judged_by_the_exit_status(
    setup: tuple[FakeDockerClient, PooledRunner, FakeRunner],
) -> None:
    client, runner, _ = setup

    def engine(container: FakeContainer, _received: bytes) -> None:
        container.exit_code = 3
        container.engine_side.sendall(frame(STDERR, b"Traceback\nValueError: boom\n"))
        container.engine_side.close()

    _serve(client, engine)
    with pytest.raises(ContainerCrashed) as raised:
        runner.run(request())
    assert raised.value.exit_code == 3
    assert "ValueError: boom" in raised.value.stderr_tail


def test_an_out_of_memory_kill_is_a_crash(
    setup: tuple[FakeDockerClient, PooledRunner, FakeRunner],
) -> None:
    client, runner, _ = setup

    def oom(container: FakeContainer, _received: bytes) -> None:
        container.exit_code, container.oom_killed = 137, True
        container.engine_side.close()

    _serve(client, oom)
    with pytest.raises(ContainerCrashed) as raised:
        runner.run(request())
    assert raised.value.oom_killed


def test_a_silent_fetcher_is_killed_at_the_deadline(
    setup: tuple[FakeDockerClient, PooledRunner, FakeRunner],
) -> None:
    client, runner, _ = setup
    runner.spec = SPEC.__class__(**{**SPEC.__dict__, "timeout_ms": 100})
    _serve(client, lambda _container, _received: None)
    with pytest.raises(ContainerTimedOut):
        runner.run(request())
    [container] = client.api.containers.values()
    assert container.killed


def test_too_much_output_kills_the_container(
    setup: tuple[FakeDockerClient, PooledRunner, FakeRunner],
) -> None:
    client, runner, _ = setup

    def flood(container: FakeContainer, _received: bytes) -> None:
        container.engine_side.sendall(frame(STDOUT, b"x" * (SPEC.output_limit_bytes + 1)))

    _serve(client, flood)
    with pytest.raises(OutputTooLarge):
        runner.run(request())
    [container] = client.api.containers.values()
    assert container.killed
