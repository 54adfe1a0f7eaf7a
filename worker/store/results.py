"""The ``scan_results`` table: writing a completed scan's result, and reading results back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from worker.store.models import RESULTS


def insert_result(connection: Connection, values: Mapping[str, Any]) -> int:
    """Insert one result row (in the transaction of its job's COMPLETED move); return its id."""
    inserted = connection.execute(RESULTS.insert().values(**values))
    key = inserted.inserted_primary_key
    if key is None:
        raise RuntimeError("the database returned no id for the new result")
    return int(key.id)
