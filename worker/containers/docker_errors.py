"""Where the Docker SDK's exceptions become scanbox's: the one translation of engine failures.

Every call to the engine that can fail an attempt runs inside ``translated``: the engine
refusing a request becomes the error the caller names (``ContainerStartFailed`` for create and
start, ``DockerUnavailable`` otherwise), a missing image says how to build it, and an engine that
can't be reached is ``DockerUnavailable``. Clean-up calls run inside ``best_effort``: a container
that is gone already, or an engine that is, must not hide the outcome being cleaned up after;
what is left behind is the reaper's, found by its labels.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import docker
import docker.errors
import requests.exceptions

from worker.errors import ContainerStartFailed, DockerUnavailable, ScanError

#: Everything the Docker SDK raises when the engine refuses a request or can't be reached.
ENGINE_ERRORS = (docker.errors.APIError, requests.exceptions.RequestException)
#: HTTP status the engine answers a kill of a container that is not running with.
NOT_RUNNING = 409


@contextmanager
def translated(
    action: str, *, refused: type[ScanError] = DockerUnavailable, image: str | None = None
) -> Iterator[None]:
    """Run an engine call for ``action`` ("start the fetcher container", say).

    A refusal raises ``refused``; an unreachable engine ``DockerUnavailable``; with ``image``,
    a missing image raises ``ContainerStartFailed`` naming the command that builds it.
    """
    try:
        yield
    except docker.errors.ImageNotFound as error:
        if image is None:
            raise refused(f"could not {action}: {error}") from error
        raise ContainerStartFailed(
            f"fetcher image {image!r} not found (run `scanbox image build`)"
        ) from error
    except docker.errors.APIError as error:
        raise refused(f"could not {action}: {error}") from error
    except requests.exceptions.RequestException as error:
        raise DockerUnavailable(f"Docker engine unreachable: {error}") from error


def best_effort() -> suppress:
    """Run a clean-up call whose failure changes nothing (the reaper finds what is left)."""
    return suppress(*ENGINE_ERRORS)


def kill(api: docker.APIClient, container_id: str) -> None:
    """Kill a container; one that is gone or has exited already is fine."""
    try:
        api.kill(container_id)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as error:
        if error.status_code != NOT_RUNNING:
            raise DockerUnavailable(f"could not kill the fetcher container: {error}") from error
    except requests.exceptions.RequestException as error:
        raise DockerUnavailable(f"Docker engine unreachable: {error}") from error


def was_oom_killed(api: docker.APIClient, container_id: str) -> bool:
    """Whether the engine says the memory limit killed the container (best effort: no)."""
    with best_effort():
        state = api.inspect_container(container_id).get("State", {})
        return bool(state.get("OOMKilled", False))
    return False


def remove(api: docker.APIClient, container_id: str) -> bool:
    """Remove a container, running or not; ``False`` if the engine could not (it is left)."""
    try:
        api.remove_container(container_id, force=True)
    except docker.errors.NotFound:
        return True
    except ENGINE_ERRORS:
        return False
    return True
