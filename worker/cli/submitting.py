"""What ``scanbox submit`` does with its URLs: submit them, or say what a submission would do.

URLs given as arguments are one batch (one bad URL stores nothing); URLs read from stdin or a
file are batches as they are read (``worker.cli.submit_lines``). A dry run needs no Redis and
writes nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, TextIO, TypedDict

from worker.cli.base import stdout
from worker.cli.terminal import safe, text

if TYPE_CHECKING:
    from worker.settings import Settings
    from worker.submit.batch import Submission
    from worker.submit.callbacks import CallbackRules
    from worker.submit.children import ChildLimits
    from worker.submit.preview import Preview


@dataclass(frozen=True, kw_only=True)
class SubmitOptions:
    """The options of one ``scanbox submit``."""

    priority: str
    force: bool
    callback_url: str | None
    dry_run: bool
    json_output: bool
    batch_size: int
    skip_invalid: bool
    depth: int = 0
    max_children: int | None = None
    mode: str = "http"


def _callback(settings: Settings, options: SubmitOptions) -> str | None:
    return options.callback_url or settings.webhook_url or None


def _window(settings: Settings, options: SubmitOptions) -> timedelta:
    return timedelta(milliseconds=0 if options.force else settings.dedup_window_ms)


class _Planning(TypedDict):
    dedup_window: timedelta
    callbacks: CallbackRules
    depth: int
    max_children: int | None
    child_limits: ChildLimits
    mode: str


def _planning(settings: Settings, options: SubmitOptions) -> _Planning:
    """The arguments that decide what a submission becomes, for a preview or the real one."""
    from worker.app.callbacks import callback_rules
    from worker.app.services import child_limits

    return {
        "dedup_window": _window(settings, options),
        "callbacks": callback_rules(settings),
        "depth": options.depth,
        "max_children": options.max_children,
        "child_limits": child_limits(settings),
        "mode": options.mode,
    }


def _print_submission(item: Submission, *, json_output: bool) -> None:
    if json_output:
        from worker.cli import views

        views.print_json(
            {"id": item.job_id, "state": item.state.value, "duplicate": item.duplicate}
        )
    else:
        sys.stdout.write(f"{item.job_id}\n")


def _print_preview(item: Preview, *, json_output: bool) -> None:
    if json_output:
        from worker.cli import views

        views.print_json(
            {
                "url": item.url,
                "id": item.job_id,
                "state": None if item.state is None else item.state.value,
                "duplicate": item.duplicate,
            }
        )
    elif item.job_id is None:
        stdout.print(text(f"new job      {item.url}"))
    else:
        state = "" if item.state is None else item.state.value
        stdout.print(text(f"{item.job_id} {state}  {item.url}"))


def submit_arguments(
    settings: Settings, urls: Sequence[str], options: SubmitOptions
) -> list[str] | None:
    """Submit ``urls`` as one batch and print them; return the job ids (``None``: dry run)."""
    from worker.app.database import open_database
    from worker.submit.batch import Request, submit_requests
    from worker.submit.preview import preview_requests

    db = open_database(settings)
    callback = _callback(settings, options)
    requests = [Request(url=url, callback_url=callback) for url in urls]
    planning = _planning(settings, options)
    if options.dry_run:
        previews = preview_requests(requests, db=db, **planning)
        for preview in previews:
            _print_preview(preview, json_output=options.json_output)
        new = sum(1 for preview in previews if preview.job_id is None and not preview.duplicate)
        sys.stderr.write(
            f"scanbox: dry run: {new} new jobs, {len(previews) - new} already known; "
            "nothing was written\n"
        )
        return None
    from worker.app.clients import dispatcher, open_redis

    submissions = submit_requests(
        requests,
        db=db,
        dispatcher=dispatcher(settings, open_redis(settings)),
        priority=options.priority,
        max_attempts=settings.max_attempts,
        max_queued=settings.max_queued_jobs,
        **planning,
    )
    for item in submissions:
        if item.duplicate:
            sys.stderr.write(
                f"scanbox: {safe(item.url)} is already job {item.job_id} "
                f"({item.state.value}); --force submits it again\n"
            )
        _print_submission(item, json_output=options.json_output)
    return [item.job_id for item in submissions]


def submit_stream(settings: Settings, stream: TextIO, options: SubmitOptions) -> None:
    """Submit the URLs of ``stream`` batch by batch (or preview them); print a summary."""
    from worker.app.database import open_database
    from worker.cli.submit_lines import submit_lines
    from worker.submit.batch import Request, submit_requests
    from worker.submit.callbacks import check_callback_url
    from worker.submit.preview import preview_requests

    db = open_database(settings)
    planning = _planning(settings, options)
    callback = _callback(settings, options)
    if callback is not None:
        check_callback_url(callback, rules=planning["callbacks"])
    if options.dry_run:
        summary = submit_lines(
            stream,
            submit=lambda urls: preview_requests(
                [Request(url=url, callback_url=callback) for url in urls],
                db=db,
                **planning,
            ),
            emit=lambda item: _print_preview(item, json_output=options.json_output),
            size=options.batch_size,
            skip_invalid=options.skip_invalid,
            dry_run=True,
        )
        sys.stderr.write(f"scanbox: dry run: {summary.line(dry_run=True)}\n")
        return
    from worker.app.clients import dispatcher, open_redis

    rq_dispatcher = dispatcher(settings, open_redis(settings))
    summary = submit_lines(
        stream,
        submit=lambda urls: submit_requests(
            [Request(url=url, callback_url=callback) for url in urls],
            db=db,
            dispatcher=rq_dispatcher,
            priority=options.priority,
            max_attempts=settings.max_attempts,
            max_queued=settings.max_queued_jobs,
            **planning,
        ),
        emit=lambda item: _print_submission(item, json_output=options.json_output),
        size=options.batch_size,
        skip_invalid=options.skip_invalid,
    )
    sys.stdout.flush()
    sys.stderr.write(f"scanbox: {summary.line()}\n")
