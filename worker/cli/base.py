"""What every ``scanbox`` command shares: the Typer apps, settings, errors, output.

Commands import what they need when they run, not when the command line is parsed, so that
``scanbox status`` or ``--help`` does not pay for Docker, RQ or the benchmark. The one error
handler therefore tells Redis's and Docker's errors by the modules that raised them, and never
imports those libraries itself.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from worker.cli.terminal import console, safe
from worker.errors import ScanboxError, UsageError

if TYPE_CHECKING:
    from worker.settings import Settings

#: Exit status for bad input, as for any usage error.
EXIT_USAGE = 2
#: Exit status when the command ran but the outcome was not a success.
EXIT_FAILURE = 1

app = typer.Typer(
    help="Scan untrusted URLs inside throw-away, locked-down containers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
image_app = typer.Typer(help="Manage the fetcher image.", no_args_is_help=True)
app.add_typer(image_app, name="image")
schedule_app = typer.Typer(help="Manage recurring scans (cron, in UTC).", no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")
db_app = typer.Typer(help="Upgrade the database schema and see its revision.", no_args_is_help=True)
app.add_typer(db_app, name="db")
apikey_app = typer.Typer(help="Manage the HTTP API's keys.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")

stdout = console()

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        stdout.print(f"scanbox {version('scanbox')}", markup=False)
        raise typer.Exit()


@app.callback()
def main_options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print scanbox's version and exit.",
        ),
    ] = False,
) -> None:
    """Scan untrusted URLs inside throw-away, locked-down containers."""


def fail(message: str, *, status: int = EXIT_USAGE) -> NoReturn:
    """Print one error line to stderr and exit with ``status``."""
    sys.stderr.write(f"scanbox: error: {safe(message)}\n")
    raise typer.Exit(status)


def _raised_by(error: BaseException, module: str, *names: str) -> bool:
    """Whether ``error`` is one of ``module``'s ``names`` (never imports ``module``)."""
    loaded = sys.modules.get(module)
    if loaded is None:
        return False
    return isinstance(error, tuple(getattr(loaded, name) for name in names))


@contextmanager
def errors_reported() -> Iterator[None]:
    """Turn scanbox's and its services' errors into one line on stderr and an exit status."""
    try:
        yield
    except UsageError as error:
        fail(str(error))
    except ScanboxError as error:
        fail(str(error), status=EXIT_FAILURE)
    except Exception as error:
        if _raised_by(error, "redis.exceptions", "ConnectionError"):
            fail(f"cannot reach Redis: {error}", status=EXIT_FAILURE)
        if _raised_by(error, "docker.errors", "DockerException") or _raised_by(
            error, "requests.exceptions", "ConnectionError"
        ):
            fail(f"cannot use the Docker engine: {error}", status=EXIT_FAILURE)
        raise


def load_settings() -> Settings:
    """Read the settings once; a bad setting is a usage error."""
    import pydantic

    from worker.settings import Settings

    try:
        return Settings()
    except pydantic.ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        name = ".".join(str(part) for part in first["loc"]).upper()
        fail(f"bad setting {name}: {first['msg']}" if name else f"bad settings: {first['msg']}")
