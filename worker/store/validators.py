"""The ``url_validators`` table: what a URL's last full answer said to ask next time.

One row per normalised URL, pointing to the result that holds the content its ``ETag`` and
``Last-Modified`` stand for (``worker.scan.conditional`` decides what to keep).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from worker.store.models import RESULTS, VALIDATORS


class KeptValidators(NamedTuple):
    """A URL's validators and the verdict of the result they point to."""

    result_id: int
    etag: str | None
    last_modified: str | None
    verdict: str
    score: int


def find_validators(connection: Connection, url_key: str) -> KeptValidators | None:
    """The validators kept for ``url_key``, if their result still exists."""
    row = connection.execute(
        sa.select(
            VALIDATORS.c.result_id,
            VALIDATORS.c.etag,
            VALIDATORS.c.last_modified,
            RESULTS.c.verdict,
            RESULTS.c.score,
        )
        .join(RESULTS, RESULTS.c.id == VALIDATORS.c.result_id)
        .where(VALIDATORS.c.url_key == url_key)
    ).one_or_none()
    if row is None:
        return None
    return KeptValidators(
        result_id=row.result_id,
        etag=row.etag,
        last_modified=row.last_modified,
        verdict=row.verdict,
        score=row.score,
    )


def update_validators(
    connection: Connection, url_key: str, *, now: datetime, **changed: str
) -> None:
    """Change some validators of ``url_key`` in place (a 304 that repeats new ones)."""
    connection.execute(
        VALIDATORS.update().where(VALIDATORS.c.url_key == url_key).values(**changed, updated_at=now)
    )


def replace_validators(
    connection: Connection,
    url_key: str,
    *,
    etag: str | None,
    last_modified: str | None,
    result_id: int,
    job_id: str,
    now: datetime,
) -> None:
    """Forget the validators of ``url_key``; keep the new ones, if it has any."""
    connection.execute(VALIDATORS.delete().where(VALIDATORS.c.url_key == url_key))
    if etag is None and last_modified is None:
        return
    connection.execute(
        VALIDATORS.insert().values(
            url_key=url_key,
            etag=etag,
            last_modified=last_modified,
            result_id=result_id,
            job_id=job_id,
            updated_at=now,
        )
    )
