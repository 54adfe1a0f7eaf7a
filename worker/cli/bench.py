"""``scanbox bench``: a scan's cost next to the bare fetcher container it runs in."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from worker.cli.base import app, errors_reported, load_settings, stdout

# The defaults live here, not in ``worker.bench``: the command line is parsed for every
# command, and only ``scanbox bench`` itself may import the benchmark.

#: Scans on each side, by default: about a minute in all on two cores.
DEFAULT_COUNT = 20
#: Bare containers at a time, and worker processes, for the throughput comparison.
DEFAULT_CONCURRENCY = 4
#: Worker processes of scanbox's side of that comparison.
DEFAULT_WORKERS = 4
#: Single submits measured.
DEFAULT_SUBMIT_COUNT = 1000
#: URLs per batched submit.
DEFAULT_BATCH_SIZE = 100
#: Where ``scanbox bench`` writes its figures unless told.
DEFAULT_OUTPUT = Path("scanbox-bench.json")


@app.command()
def bench(
    *,
    count: Annotated[int, typer.Option(help="Scans on each side (N).", min=1)] = DEFAULT_COUNT,
    concurrency: Annotated[
        int, typer.Option(help="Bare containers at a time (C).", min=1)
    ] = DEFAULT_CONCURRENCY,
    workers: Annotated[int, typer.Option(help="Worker processes (W).", min=1)] = DEFAULT_WORKERS,
    submit_count: Annotated[
        int, typer.Option(help="Single submits measured.", min=1)
    ] = DEFAULT_SUBMIT_COUNT,
    batch_size: Annotated[
        int, typer.Option(help="URLs per batched submit.", min=1)
    ] = DEFAULT_BATCH_SIZE,
    output: Annotated[
        Path, typer.Option(help="Where the figures are written as JSON.")
    ] = DEFAULT_OUTPUT,
    mode: Annotated[
        str,
        typer.Option(
            help="http (fetcher scans) or browser (browser scans, cold and warm, next to a "
            "bare browser container; --count turns, --workers processes per side)."
        ),
    ] = "http",
) -> None:
    """Measure a scan's cost against bare containers, on a page served on loopback."""
    from worker.bench import report as bench_report
    from worker.submit.batch import check_mode

    with errors_reported():
        check_mode(mode)
    settings = load_settings()
    if mode == "browser":
        with errors_reported():
            _bench_browser(count=count, workers=workers, output=output)
        return
    from worker.bench.options import BenchOptions
    from worker.bench.run import run_benchmark

    with errors_reported():
        options = BenchOptions(
            count=count,
            concurrency=concurrency,
            workers=workers,
            submit_count=submit_count,
            batch_size=batch_size,
        )
        results = bench_report.with_table(
            run_benchmark(settings, options, progress=lambda line: print(line, file=sys.stderr))
        )
        bench_report.write_json(results, output)
        stdout.print(bench_report.render_table(bench_report.rows(results)), markup=False)
        stdout.print(f"figures written to {output}", markup=False)


def _bench_browser(*, count: int, workers: int, output: Path) -> None:
    from worker.bench import report as bench_report
    from worker.bench.browser import run_browser_benchmark

    figures = run_browser_benchmark(
        count=count, workers=workers, progress=lambda line: print(line, file=sys.stderr)
    )
    bench_report.write_json(figures, output)
    stdout.print(bench_report.render_table(bench_report.browser_rows(figures)), markup=False)
    stdout.print(f"figures written to {output}", markup=False)
