"""How ``scanbox stats`` looks: its JSON object, and tables with a bar per running drain."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from worker.cli.views import state_text
from worker.documents import run_dict, snapshot_dict
from worker.telemetry.stats import Snapshot, run_seconds

__all__ = ["render", "run_dict", "snapshot_dict", "watch"]


def render(snapshot: Snapshot) -> RenderableType:
    """The snapshot as tables (and a progress bar per running drain) for a terminal."""
    states = Table(title="jobs by state", title_justify="left")
    for state in snapshot.states:
        states.add_column(state_text(state), justify="right")
    states.add_row(*(str(count) for count in snapshot.states.values()))
    runs = Table(title="recent runs", title_justify="left")
    for name in ("kind", "name", "status", "started", "time s", "done", "ok", "failed"):
        runs.add_column(name, justify="right" if name not in ("kind", "name", "status") else "left")
    for name in ("skipped", "retried", "per s"):
        runs.add_column(name, justify="right")
    for run in snapshot.runs:
        seconds = run_seconds(run, snapshot.at)
        runs.add_row(
            run.kind,
            run.name,
            run.status,
            run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{seconds:.1f}",
            str(run.processed),
            str(run.succeeded),
            str(run.failed),
            str(run.skipped),
            str(run.retried),
            f"{run.processed / seconds:.2f}" if seconds > 0 else "-",
        )
    parts: list[RenderableType] = [states, runs]
    for drain in snapshot.drains:
        line = Table.grid(padding=(0, 1))
        line.add_row(
            Text(f"drain {drain.group_id[:12]}"),
            ProgressBar(total=drain.limit, completed=min(drain.processed, drain.limit), width=40),
            Text(f"{drain.processed}/{drain.limit}"),
        )
        parts.append(line)
    schedules = snapshot.schedules
    parts.append(
        Text(
            f"schedules: {schedules['active']} active, {schedules['inactive']} inactive, "
            f"{schedules['invalid']} invalid"
        )
    )
    return Group(*parts)


def watch(
    take: Callable[[], Snapshot],
    *,
    console: Console,
    every_s: float,
    iterations: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Redraw ``render(take())`` every ``every_s`` until interrupted (or ``iterations``)."""
    shown = 0
    with Live(render(take()), console=console, auto_refresh=False) as live:
        shown += 1
        while iterations is None or shown < iterations:
            sleep(every_s)
            live.update(render(take()), refresh=True)
            shown += 1
    return shown
