"""A fake Docker engine for the standby pool and the pooled runner: calls recorded, and each
container's attach socket one end of a socket pair whose other end the test plays."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from typing import Any

import docker.errors


def frame(stream: int, payload: bytes) -> bytes:
    """One frame of Docker's multiplexed attach stream."""
    return struct.pack(">BxxxI", stream, len(payload)) + payload


@dataclass
class FakeContainer:
    id: str
    name: str
    options: dict[str, Any]
    engine_side: socket.socket
    started: bool = False
    removed: bool = False
    killed: bool = False
    exit_code: int = 0
    oom_killed: bool = False


@dataclass
class FakeAPI:
    """The low-level calls the pool and the runner make."""

    containers: dict[str, FakeContainer] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_start: bool = False
    sockets: list[socket.socket] = field(default_factory=list)

    def close_sockets(self) -> None:
        """Close both ends of every attach socket (tests end with no socket left open)."""
        for sock in self.sockets:
            sock.close()

    def attach_socket(self, container_id: str, params: dict[str, int]) -> socket.socket:
        assert params == {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
        self.calls.append(("attach", container_id))
        ours, theirs = socket.socketpair()
        self.sockets += [ours, theirs]
        self.containers[container_id].engine_side = theirs
        return ours

    def start(self, container_id: str) -> None:
        self.calls.append(("start", container_id))
        if self.fail_start:
            raise docker.errors.APIError("start refused")
        self.containers[container_id].started = True

    def rename(self, container_id: str, name: str) -> None:
        self.calls.append(("rename", container_id))
        self.containers[container_id].name = name

    def remove_container(self, container_id: str, force: bool) -> None:
        assert force
        self.calls.append(("remove", container_id))
        container = self.containers[container_id]
        container.removed = True
        container.engine_side.close()

    def kill(self, container_id: str) -> None:
        self.calls.append(("kill", container_id))
        self.containers[container_id].killed = True

    def wait(self, container_id: str, timeout: float) -> dict[str, int]:
        self.calls.append(("wait", container_id))
        return {"StatusCode": self.containers[container_id].exit_code}

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        return {"State": {"OOMKilled": self.containers[container_id].oom_killed}}


def _closed_socket() -> socket.socket:
    """A placeholder engine side until the container is attached."""
    sock = socket.socket()
    sock.close()
    return sock


@dataclass
class _Created:
    id: str


class FakeContainers:
    def __init__(self, api: FakeAPI) -> None:
        self.api = api
        self.created = 0

    def create(self, image: str, **options: Any) -> _Created:
        self.created += 1
        container_id = f"c{self.created:03d}"
        self.api.containers[container_id] = FakeContainer(
            id=container_id,
            name=options["name"],
            options={"image": image, **options},
            engine_side=_closed_socket(),
        )
        self.api.calls.append(("create", container_id))
        return _Created(id=container_id)

    def list(
        self, *, all: bool, filters: dict[str, list[str]], ignore_removed: bool = False
    ) -> list[_Created]:
        """The containers not removed yet whose labels match every ``key=value`` filter.

        The engine lists, then inspects each container; one removed in between fails the
        whole call unless the caller asks to pass it over.
        """
        assert all
        assert ignore_removed

        def matches(container: FakeContainer) -> bool:
            labels = container.options["labels"]
            return all_labels(labels, filters["label"]) and not container.removed

        return [_Created(id=c.id) for c in self.api.containers.values() if matches(c)]


def all_labels(labels: dict[str, str], wanted: list[str]) -> bool:
    """Whether ``labels`` carry every ``key=value`` of ``wanted``."""
    return all(labels.get(key) == value for key, _, value in (w.partition("=") for w in wanted))


class FakeDockerClient:
    """What ``docker.DockerClient`` offers the pool and the runner."""

    def __init__(self) -> None:
        self.api = FakeAPI()
        self.containers = FakeContainers(self.api)
        self.closed = False

    def close(self) -> None:
        self.closed = True
