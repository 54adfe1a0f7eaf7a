"""``scanbox artifact``: one artifact of a browser scan, written out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from worker.cli.base import EXIT_FAILURE, app, errors_reported, fail, load_settings

#: The artifacts a browser scan may keep.
ARTIFACT_NAMES = ("screenshot", "dom", "har", "favicon")


@app.command()
def artifact(
    job_id: Annotated[str, typer.Argument(help="A browser scan's job id.")],
    name: Annotated[str, typer.Argument(help="screenshot, dom, har or favicon.")],
    *,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write it to FILE [default: stdout, not a terminal]."),
    ] = None,
) -> None:
    """Write one artifact of a browser scan: the screenshot (PNG), the DOM after scripts ran
    (HTML), the request log (HAR 1.2) or the favicon.

    The bytes are the page's: never printed on a terminal (give -o FILE, or redirect).
    """
    from worker.app.database import open_database
    from worker.store import queries
    from worker.store.artifacts import ArtifactStore

    if name not in ARTIFACT_NAMES:
        fail(f"unknown artifact {name!r} (use one of {', '.join(ARTIFACT_NAMES)})")
    if output is None and sys.stdout.isatty():
        fail("an artifact is not for a terminal: give -o FILE or redirect stdout")
    settings = load_settings()
    with errors_reported():
        db = open_database(settings)
        queries.get_job(db, job_id)
        result = queries.get_result(db, job_id)
        declared = {item["name"]: item for item in (result.artifacts or [])} if result else {}
        if name not in declared:
            fail(f"job {job_id} has no {name}", status=EXIT_FAILURE)
        data = ArtifactStore(Path(settings.artifact_dir)).read(str(declared[name]["sha256"]))
        if data is None:
            fail(
                f"the {name} of job {job_id} is not in the artifact store "
                f"({settings.artifact_dir}) or does not match its sha256",
                status=EXIT_FAILURE,
            )
        if output is None:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            output.write_bytes(data)
