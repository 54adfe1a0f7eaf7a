"""Job ids: fresh, unguessable, 32 hex digits."""

from __future__ import annotations

import uuid


def new_job_id() -> str:
    """A fresh, unguessable job id (32 hex digits)."""
    return uuid.uuid4().hex
