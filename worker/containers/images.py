"""Building the fetcher image through the Docker SDK, from a context of just what it needs."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import docker
import docker.errors

import fetcher
from worker.errors import ConfigurationError, ScanboxError


def fetcher_package() -> Path:
    """The directory the ``fetcher`` package was installed in."""
    return Path(next(iter(fetcher.__path__)))


class ImageBuildFailed(ScanboxError):
    """The engine could not build the image."""


def build_context() -> io.BytesIO:
    """A tar build context holding ``Dockerfile`` and the ``fetcher`` package, nothing else."""
    package = fetcher_package()
    dockerfile = package.parent / "Dockerfile.fetcher"
    if not dockerfile.is_file():
        raise ConfigurationError(f"{dockerfile} not found: build from a scanbox source checkout")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(dockerfile, arcname="Dockerfile")
        for path in sorted(package.rglob("*.py")):
            tar.add(path, arcname=f"fetcher/{path.relative_to(package)}")
    buffer.seek(0)
    return buffer


def build_fetcher_image(
    client: docker.DockerClient, *, tag: str, base_image: str, pull: bool = False
) -> str:
    """Build the fetcher image as ``tag`` on ``base_image``; return the image id."""
    try:
        image, _logs = client.images.build(
            fileobj=build_context(),
            custom_context=True,
            tag=tag,
            buildargs={"BASE_IMAGE": base_image},
            pull=pull,
            rm=True,
            forcerm=True,
            labels={"org.scanbox.component": "fetcher"},
        )
    except docker.errors.BuildError as error:
        raise ImageBuildFailed(f"building {tag} failed: {error.msg}") from error
    except docker.errors.APIError as error:
        raise ImageBuildFailed(f"building {tag} failed: {error}") from error
    return str(image.id)
