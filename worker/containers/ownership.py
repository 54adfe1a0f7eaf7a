"""Whose a scanbox container is: the attempt it belongs to, read from its labels and name.

The reaper asks this of every container of its deployment and removes those whose attempt is
not live. A standby container not yet given a job belongs to its worker's pool and is left
alone while it is young; once handed out it is named after its job and attempt.
"""

from __future__ import annotations

import re
from datetime import datetime

from docker.models.containers import Container

from worker.containers.spec import LABEL_ATTEMPT, LABEL_JOB, LABEL_STANDBY, STANDBY_PREFIX

#: A standby container unused for this long is removed and replaced; the reaper leaves
#: unassigned standby containers alone until they are older than this.
MAX_AGE_S = 600.0
#: The name ``container_name`` gives a container of a job's attempt.
_ASSIGNED = re.compile(r"scanbox-([0-9a-f]{32})-(\d+)")


def is_unassigned(name: str) -> bool:
    """Whether a standby container of this name has not been given a job yet."""
    return name.lstrip("/").startswith(STANDBY_PREFIX)


def _age_s(created: str, now: datetime) -> float:
    # The engine writes nanoseconds; Python reads at most microseconds.
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", created).replace("Z", "+00:00")
    try:
        return (now - datetime.fromisoformat(stamp)).total_seconds()
    except ValueError:
        return float("inf")


def container_attempt(container: Container, *, now: datetime) -> tuple[str, int] | None:
    """The (job id, attempt) a scanbox container belongs to, for the reaper.

    ``None`` means "leave it alone": a standby container not yet given a job, created or
    waiting for its URL, and younger than ``MAX_AGE_S``. A standby container that was given a
    job is named after it; other containers carry it in their labels. ``("", -1)`` belongs to
    no attempt at all.
    """
    labels = container.labels or {}
    name = (container.name or "").lstrip("/")
    if not labels.get(LABEL_STANDBY):
        try:
            return labels.get(LABEL_JOB, ""), int(labels.get(LABEL_ATTEMPT, ""))
        except ValueError:
            return labels.get(LABEL_JOB, ""), -1
    if is_unassigned(name):
        idle = container.status in ("created", "running")
        if idle and _age_s(str(container.attrs.get("Created", "")), now) < MAX_AGE_S:
            return None
        return "", -1
    match = _ASSIGNED.fullmatch(name)
    return (match.group(1), int(match.group(2))) if match else ("", -1)
