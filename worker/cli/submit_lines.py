"""``scanbox submit -`` and ``--from-file``: URLs one a line, submitted batch by batch.

Lines are read as they come, ``size`` at a time, so a list of any length takes the memory of
one batch. Blank lines and lines starting with ``#`` are skipped. Every URL of a batch is
checked before the batch is stored, and a batch is stored whole or not at all: a bad line
stops the command (exit status 2) with its line number, after the batches before it were
stored and before anything of its own batch is; with ``skip_invalid`` the bad line is named
on stderr and the others are submitted.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol, TextIO, TypeVar

from worker.cli.terminal import console, safe
from worker.errors import InvalidURL, QueueFull, ScanboxError, UsageError

#: URLs submitted in one transaction.
DEFAULT_BATCH = 1000
#: Characters of a line read at most (a URL is at most 2048; the rest is refused anyway).
MAX_LINE_CHARS = 64 * 1024


class Outcome(Protocol):
    """What became of one URL (a submission, or a dry run's preview)."""

    @property
    def duplicate(self) -> bool: ...


OutcomeT = TypeVar("OutcomeT", bound=Outcome)


@dataclass(kw_only=True)
class LinesSummary:
    """What a run over a list of URLs did."""

    lines: int = 0
    new: int = 0
    duplicates: int = 0
    skipped: int = 0
    seconds: float = 0.0

    def line(self, *, dry_run: bool = False) -> str:
        """The summary line printed at the end."""
        rate = (self.new + self.duplicates) / self.seconds if self.seconds > 0 else 0.0
        made = "would be new jobs" if dry_run else "new jobs"
        text = (
            f"{self.new + self.duplicates} URLs: {self.new} {made}, {self.duplicates} already known"
        )
        if self.skipped:
            text += f", {self.skipped} invalid lines skipped"
        written = "; nothing was written" if dry_run else ""
        return f"{text} in {self.seconds:.1f} s ({rate:.0f}/s){written}"


def read_batches(stream: TextIO, *, size: int) -> Iterator[list[tuple[int, str]]]:
    """``(line number, URL)`` pairs of ``stream``, ``size`` at a time."""
    batch: list[tuple[int, str]] = []
    number = 0
    while True:
        line = stream.readline(MAX_LINE_CHARS)
        if not line:
            break
        number += 1
        if len(line) == MAX_LINE_CHARS and not line.endswith("\n"):
            rest = stream.readline()
            while rest and not rest.endswith("\n"):
                rest = stream.readline()
        url = line.strip()
        if not url or url.startswith("#"):
            continue
        batch.append((number, url))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _progress() -> AbstractContextManager[Any]:
    """A progress display on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        return nullcontext(None)
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.completed} URLs submitted"),
        TimeElapsedColumn(),
        console=console(stderr=True),
        transient=True,
        # Job ids go to stdout as they are: Rich would send them through its display.
        redirect_stdout=False,
        redirect_stderr=False,
    )


def submit_lines(
    stream: TextIO,
    *,
    submit: Callable[[Sequence[str]], Sequence[OutcomeT]],
    emit: Callable[[OutcomeT], None],
    size: int = DEFAULT_BATCH,
    skip_invalid: bool = False,
    dry_run: bool = False,
) -> LinesSummary:
    """Submit every URL of ``stream`` through ``submit``, batch by batch; ``emit`` each result.

    ``dry_run`` says that ``submit`` stores nothing (the message of a bad line says so).
    """
    from worker.urls import validate_url

    summary = LinesSummary()
    started = time.monotonic()
    with _progress() as progress:
        task = None if progress is None else progress.add_task("submit", total=None)
        for batch in read_batches(stream, size=size):
            summary.lines = batch[-1][0]
            urls = [url for _, url in batch]
            try:
                submissions = submit(urls)
            except QueueFull as error:
                first = batch[0][0]
                raise ScanboxError(
                    f"{error}; lines before {first} were submitted, nothing from line {first} on"
                ) from None
            except InvalidURL as error:
                if not skip_invalid:
                    number = next((n for n, url in batch if url == error.url), batch[0][0])
                    first = batch[0][0]
                    done = f"lines before {first} were submitted; nothing from line {first} on was"
                    if dry_run:
                        done = "nothing was written"
                    raise UsageError(f"line {number}: {error}; {done}") from None
                good = []
                for number, url in batch:
                    try:
                        validate_url(url)
                    except InvalidURL as bad:
                        summary.skipped += 1
                        note = f"scanbox: line {number} skipped: {safe(str(bad))}"
                        if progress is None:
                            sys.stderr.write(note + "\n")
                        else:
                            progress.console.print(note, markup=False, highlight=False)
                    else:
                        good.append(url)
                submissions = submit(good) if good else ()
            for submission in submissions:
                emit(submission)
                if submission.duplicate:
                    summary.duplicates += 1
                else:
                    summary.new += 1
            if progress is not None:
                progress.update(task, advance=len(submissions))
    summary.seconds = time.monotonic() - started
    return summary
