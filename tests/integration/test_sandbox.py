"""The fetcher's container holds: probes run inside the real container, under the real limits.

Each probe is an image built on the fetcher image whose entry point is a small Python program
that reports what it can see and do; it runs through ``DockerRunner`` with the same spec the
workers use, so what it reports is what a compromised fetcher would get. Every probe runs
under the engine's default runtime (runc) and under gVisor (``runsc``, registered with the
engine by ``scripts/setup.sh``), where the kernel the probe talks to is gVisor's own.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os

import docker
import pytest

from tests.services import unavailable
from worker.containers.runner import DockerRunner, RunRequest
from worker.containers.spec import ContainerSpec
from worker.errors import ContainerCrashed

#: The probes ignore their command; a scan's always ends with a URL.
PROBE_URL = "http://127.0.0.1:9/"
SPEC = ContainerSpec(
    image="",
    timeout_ms=20_000,
    memory_limit_mb=64,
    cpu_limit=0.5,
    pids_limit=64,
    tmpfs_mb=4,
    user="65534:65534",
    network="none",
    deployment="sandbox-tests",
)

IDENTITY = """
import json, os
status = dict(line.split(':\\t', 1) for line in open('/proc/self/status').read().splitlines()
              if ':\\t' in line)
def cpu_max():
    try:
        quota, period = open('/sys/fs/cgroup/cpu.max').read().split()
    except OSError:
        try:
            quota = open('/sys/fs/cgroup/cpu/cpu.cfs_quota_us').read()
            period = open('/sys/fs/cgroup/cpu/cpu.cfs_period_us').read()
        except OSError:
            return None  # gVisor shows the sandbox no cgroup files: its host side holds them
    return [int(quota), int(period)]
def can_write(path):
    try:
        with open(path, 'w') as f:
            f.write('x')
        return True
    except OSError:
        return False
print(json.dumps({
    'uid': os.getuid(), 'gid': os.getgid(),
    'cap_eff': status['CapEff'].strip(), 'cap_prm': status['CapPrm'].strip(),
    'cap_bnd': status['CapBnd'].strip(),
    'no_new_privs': status.get('NoNewPrivs', '').strip(),
    'seccomp': status.get('Seccomp', '').strip(),
    'kernel': open('/proc/version').read(),
    'root_writable': can_write('/probe'), 'etc_writable': can_write('/etc/probe'),
    'tmp_writable': can_write('/tmp/probe'),
    'interfaces': sorted(os.listdir('/sys/class/net')),
    'pid': os.getpid(), 'pid1': open('/proc/1/comm').read().strip(),
    'cpu_max': cpu_max(),
}))
"""

FORK_BOMB = """
import json, os, time
children, error = [], None
for _ in range(10000):
    try:
        pid = os.fork()
    except OSError as exc:
        error = exc.errno
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.kill(pid, 9)
print(json.dumps({'forked': len(children), 'errno': error}))
"""

MEMORY_BOMB = """
chunks = []
while True:
    chunks.append(bytearray(16 * 1024 * 1024))
"""


@pytest.fixture(scope="module")
def probes(docker_client: docker.DockerClient, fetcher_image: str) -> dict[str, str]:
    tags = {}
    for name, program in {
        "identity": IDENTITY,
        "forkbomb": FORK_BOMB,
        "membomb": MEMORY_BOMB,
    }.items():
        tag = f"scanbox-test-probe-{name}:latest"
        entrypoint = json.dumps(["python3", "-c", program])
        dockerfile = f"FROM {fetcher_image}\nENTRYPOINT {entrypoint}\n".encode()
        docker_client.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True)
        tags[name] = tag
    return tags


@pytest.fixture(params=["runc", "runsc"])
def runtime(request: pytest.FixtureRequest, docker_client: docker.DockerClient) -> str:
    """The OCI runtime a probe runs under (``""``: the engine's default, runc)."""
    name = str(request.param)
    if name == "runsc" and "runsc" not in docker_client.info().get("Runtimes", {}):
        unavailable("gVisor's runsc registered with the Docker engine (run scripts/setup.sh)")
    return "" if name == "runc" else name


def _run(client: docker.DockerClient, image: str, name: str, runtime: str) -> dict[str, object]:
    spec = dataclasses.replace(SPEC, image=image, runtime=runtime)
    runner = DockerRunner(client=client, spec=spec)
    run = runner.run(
        RunRequest(
            job_id=f"sandbox{name}{os.getpid()}", attempt=1, worker_id="sandbox-test", url=PROBE_URL
        )
    )
    data: dict[str, object] = json.loads(run.stdout)
    return data


def test_the_fetcher_runs_unprivileged_read_only_and_confined(
    docker_client: docker.DockerClient, probes: dict[str, str], runtime: str
) -> None:
    facts = _run(docker_client, probes["identity"], "identity", runtime)
    assert (facts["uid"], facts["gid"]) == (65534, 65534)
    assert int(str(facts["cap_eff"]), 16) == 0
    assert int(str(facts["cap_prm"]), 16) == 0
    assert int(str(facts["cap_bnd"]), 16) == 0
    assert facts["root_writable"] is False
    assert facts["etc_writable"] is False
    assert facts["tmp_writable"] is True
    assert facts["interfaces"] == ["lo"]  # network "none" here: nothing but loopback
    # The engine's init is PID 1 and the fetcher its child, not PID 1 itself.
    assert facts["pid"] != 1
    assert facts["pid1"] in {"docker-init", "tini", "tini-static"}
    if runtime == "runsc":
        # The probe talks to gVisor's kernel, not the host's: no-new-privileges, seccomp and
        # the CPU quota are applied to the sandbox from the host, out of the probe's sight.
        with open("/proc/version") as host:
            assert facts["kernel"] != host.read()
        assert facts["cpu_max"] is None
        return
    assert facts["no_new_privs"] == "1"
    assert facts["seccomp"] == "2"  # filter mode: Docker's default profile
    # The kernel holds it to cpu_limit CPUs over each cpu_period_ms.
    assert facts["cpu_max"] == [250_000, 500_000]


def test_a_fork_bomb_is_stopped_by_the_pids_limit(
    docker_client: docker.DockerClient, probes: dict[str, str], runtime: str
) -> None:
    if runtime == "runsc":
        # gVisor's processes are its own; the pids limit holds the sandbox's host threads,
        # and a fork bomb that needs more takes the whole sandbox down with it.
        with pytest.raises(ContainerCrashed) as raised:
            _run(docker_client, probes["forkbomb"], "forkbomb", runtime)
        assert raised.value.exit_code != 0
        assert docker_client.ping()
        return
    facts = _run(docker_client, probes["forkbomb"], "forkbomb", runtime)
    assert facts["errno"] == 11  # EAGAIN: the pids limit said no
    assert 0 < int(str(facts["forked"])) < SPEC.pids_limit
    assert docker_client.ping()  # the engine (and host) carry on


def test_a_memory_bomb_is_killed_and_recorded_as_out_of_memory(
    docker_client: docker.DockerClient, probes: dict[str, str], runtime: str
) -> None:
    with open("/proc/meminfo") as meminfo:
        before = int(next(line for line in meminfo if line.startswith("MemAvailable")).split()[1])
    runner = DockerRunner(
        client=docker_client,
        spec=dataclasses.replace(SPEC, image=probes["membomb"], runtime=runtime),
    )
    with pytest.raises(ContainerCrashed) as raised:
        runner.run(
            RunRequest(
                job_id=f"sandboxmem{os.getpid()}",
                attempt=1,
                worker_id="sandbox-test",
                url=PROBE_URL,
            )
        )
    assert raised.value.oom_killed
    assert raised.value.exit_code == 137
    with open("/proc/meminfo") as meminfo:
        after = int(next(line for line in meminfo if line.startswith("MemAvailable")).split()[1])
    assert after > before - 256 * 1024  # the host kept its memory (kB)
    assert docker_client.ping()
