"""Rows written from dataclasses whose fields are the table's columns, as a batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def insert_records(
    connection: Connection,
    table: sa.Table,
    records: Sequence[DataclassInstance],
    *,
    now: datetime,
) -> None:
    """Insert one row of ``table`` per record (its fields, and ``created_at`` ``now``), in the
    caller's transaction; nothing for no records."""
    if not records:
        return
    connection.execute(
        table.insert(),
        [
            {field.name: getattr(record, field.name) for field in fields(record)}
            | {"created_at": now}
            for record in records
        ],
    )
