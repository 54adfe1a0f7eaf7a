"""Whose a container is, as the reaper sees it: labels, a standby's name, or nobody's yet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from worker.containers.ownership import MAX_AGE_S, container_attempt
from worker.containers.spec import LABEL_ATTEMPT, LABEL_JOB, LABEL_MANAGED, LABEL_STANDBY

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
JOB = "b" * 32


@dataclass
class Seen:
    name: str
    status: str = "running"
    labels: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)


def standby(name: str, *, status: str = "running", age_s: float = 5.0) -> Seen:
    created = (NOW - timedelta(seconds=age_s)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
    return Seen(
        name=name,
        status=status,
        labels={LABEL_MANAGED: "true", LABEL_STANDBY: "true"},
        attrs={"Created": created},
    )


def test_an_ordinary_container_is_known_by_its_labels() -> None:
    seen = Seen(name="x", labels={LABEL_MANAGED: "true", LABEL_JOB: JOB, LABEL_ATTEMPT: "2"})
    assert container_attempt(seen, now=NOW) == (JOB, 2)
    seen.labels[LABEL_ATTEMPT] = "not a number"
    assert container_attempt(seen, now=NOW) == (JOB, -1)


def test_a_standby_container_given_a_job_is_known_by_its_name() -> None:
    seen = standby(f"/scanbox-{JOB}-3")
    assert container_attempt(seen, now=NOW) == (JOB, 3)


def test_an_idle_young_standby_container_is_left_alone() -> None:
    for status in ("created", "running"):
        seen = standby("scanbox-standby-0123456789abcdef", status=status)
        assert container_attempt(seen, now=NOW) is None


def test_an_exited_or_old_standby_container_belongs_to_nobody() -> None:
    exited = standby("scanbox-standby-0123456789abcdef", status="exited")
    old = standby("scanbox-standby-0123456789abcdef", age_s=MAX_AGE_S + 1)
    odd = standby("scanbox-something-else")
    for seen in (exited, old, odd):
        assert container_attempt(seen, now=NOW) == ("", -1)
