"""Fuzzing what a container may print: every output ends the job cleanly."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from statemachine.states import State
from tests.support import FakeDispatcher, FakeRunner, make_report
from worker.analysis.report import FetchReport, parse_report
from worker.containers.spec import Limits
from worker.errors import InvalidOutput
from worker.scan.backoff import Backoff
from worker.scan.outcome import OutcomePolicy
from worker.scan.scanner import FetcherArgs, Scanner
from worker.store.database import Database
from worker.submit.batch import submit_urls

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


def _mutate(report: dict[str, Any], key: str, value: object) -> bytes:
    report = dict(report)
    report[key] = value
    return json.dumps(report).encode()


@st.composite
def outputs(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "mutated", "truncated", "nested"]))
    if kind == "bytes":
        return draw(st.binary(max_size=2000))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    base = make_report()
    if kind == "mutated":
        return _mutate(base, draw(st.sampled_from(sorted(base))), draw(json_values))
    if kind == "truncated":
        text = json.dumps(base).encode()
        return text[: draw(st.integers(0, len(text) - 1))]
    depth = draw(st.integers(1, 5000))
    return _mutate(base, "title", None)[:-1] + b',"x":' + b"[" * depth + b"]" * depth + b"}"


@given(stdout=outputs())
@settings(max_examples=300, deadline=None)
def test_parse_report_accepts_or_raises_invalid_output(stdout: bytes) -> None:
    outcome: FetchReport | InvalidOutput
    try:
        outcome = parse_report(stdout)
    except InvalidOutput as error:
        outcome = error
    if isinstance(outcome, InvalidOutput):
        assert outcome.code == "invalid_output"
        assert len(outcome.message) < 1000
    else:
        assert isinstance(outcome, FetchReport)


@given(stdout=outputs())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_output_ends_the_job_in_completed_or_failed(stdout: bytes) -> None:
    db = Database(url=":memory:")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    [job_id] = submit_urls(
        ["http://127.0.0.1/"], db=db, dispatcher=FakeDispatcher(), clock=lambda: now
    )
    scanner = Scanner(
        db=db,
        runner=FakeRunner([stdout]),
        dispatcher=FakeDispatcher(),
        worker_id="w",
        limits=Limits(timeout_ms=1000, memory_limit_mb=64, cpu_limit=0.5, pids_limit=64),
        fetch=FetcherArgs(timeout_ms=500, max_body_bytes=1024, allowed_ports="any"),
        outcomes=OutcomePolicy(backoff=Backoff(base_s=1, maximum_s=1, rng=random.Random(0))),
        clock=lambda: now,
    )
    assert scanner.scan(job_id) in (State.COMPLETED, State.FAILED, State.TIMED_OUT)
    db.dispose()
