"""``scanbox image build``: the fetcher image, built through the Docker engine."""

from __future__ import annotations

from typing import Annotated

import typer

from worker.cli.base import errors_reported, image_app, load_settings, stdout


@image_app.command("build")
def image_build(
    base: Annotated[
        str | None, typer.Option(help="Base image [default: FETCHER_BASE_IMAGE].")
    ] = None,
    tag: Annotated[str | None, typer.Option(help="Image tag [default: FETCHER_IMAGE].")] = None,
) -> None:
    """Build the fetcher image through the Docker engine."""
    from worker.app.clients import open_docker
    from worker.containers.images import build_fetcher_image

    settings = load_settings()
    with errors_reported():
        image_tag = tag or settings.fetcher_image
        image_id = build_fetcher_image(
            open_docker(), tag=image_tag, base_image=base or settings.fetcher_base_image
        )
        stdout.print(f"built {image_tag} ({image_id})")
