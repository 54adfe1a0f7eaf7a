"""The benchmark's table: ratios, targets met or missed, and the JSON it adds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from worker.bench.report import render_table, rows, with_table, write_json


def results(
    *,
    base_p50: float = 300.0,
    scan_p50: float = 330.0,
    base_tput: float = 4.0,
    scan_tput: float = 3.6,
    batched: float = 2500.0,
    single: float = 1.5,
    rss: float = 70.0,
    start: float = 50.0,
) -> dict[str, Any]:
    latency = {"p50_ms": base_p50, "p95_ms": base_p50 * 1.2}
    return {
        "options": {"concurrency": 4, "workers": 4},
        "baseline": {
            "sequential": {"latency": latency, "fetcher_startup": {"p50_ms": start}},
            "concurrent": {"latency": latency, "throughput_per_s": base_tput},
        },
        "scanbox": {
            "sequential": {
                "latency": {"p50_ms": scan_p50, "p95_ms": scan_p50 * 1.2},
                "fetcher_startup": {"p50_ms": start},
            },
            "concurrent": {"latency": latency, "throughput_per_s": scan_tput},
        },
        "submit": {"batched_per_s": batched, "batch_size": 100, "single": {"p50_ms": single}},
        "footprint": {"worker_rss_max_mib": rss, "container_peak_mib": 12.0},
    }


def _met(data: dict[str, Any]) -> dict[str, bool | None]:
    return {row.measure: row.met for row in rows(data) if row.target}


def test_every_target_met() -> None:
    assert set(_met(results()).values()) == {True}


def test_each_target_can_be_missed() -> None:
    missed = _met(
        results(
            scan_p50=346.0,
            scan_tput=3.3,
            batched=1999.0,
            single=5.1,
            rss=80.5,
            start=61.0,
        )
    )
    assert set(missed.values()) == {False}
    assert len(missed) == 6


def test_ratios_are_scanbox_over_baseline() -> None:
    table = {row.measure: row for row in rows(results())}
    assert table["sequential latency p50 (ms)"].ratio == 1.1
    assert table["throughput, C=4 W=4 (scans/s)"].ratio == 0.9
    assert table["worker RSS, largest process (MiB)"].ratio is None


def test_missing_figures_are_not_met() -> None:
    data = results()
    del data["footprint"]
    assert _met(data)["worker RSS, largest process (MiB)"] is False


def test_table_aligns_columns_and_marks_misses() -> None:
    text = render_table(rows(results(scan_p50=400.0)))
    lines = text.splitlines()
    assert lines[0].split() == ["measure", "baseline", "scanbox", "ratio", "target"]
    assert "1.33" in lines[1]
    assert lines[1].endswith("MISSED")
    # Numbers are right-aligned under their heading.
    assert lines[0].index("baseline") + len("baseline") == lines[1].index("300.0") + len("300.0")


def test_json_has_the_table(tmp_path: Path) -> None:
    path = tmp_path / "out" / "bench.json"
    write_json(with_table(results()), path)
    written = json.loads(path.read_text())
    first = written["table"][0]
    assert first == {
        "measure": "sequential latency p50 (ms)",
        "baseline": 300.0,
        "scanbox": 330.0,
        "ratio": 1.1,
        "target": "ratio <= 1.15",
        "met": True,
    }
