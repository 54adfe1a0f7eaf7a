"""api keys and search columns

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

The HTTP API's tables and indexes: ``api_keys`` (a hash of each key, never the key), the job's
host and verdict and the result's final host and peer address as columns of their own, and an
index for every search ``GET /v1/scans`` offers (``worker.store.search``). Rows made before
this revision get them from the URL, the result, the final URL and the stored report.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import idna
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: Rows read and updated per statement while filling the new columns.
BATCH = 1000

_jobs = sa.table(
    "scan_jobs",
    sa.column("id", sa.String()),
    sa.column("url", sa.String()),
    sa.column("host", sa.String()),
    sa.column("verdict", sa.String()),
)
_results = sa.table(
    "scan_results",
    sa.column("id", sa.Integer()),
    sa.column("job_id", sa.String()),
    sa.column("verdict", sa.String()),
    sa.column("final_url", sa.String()),
    sa.column("report", sa.JSON()),
    sa.column("final_host", sa.String()),
    sa.column("peer_address", sa.String()),
)


def _host(url: str | None) -> str | None:
    """The host of ``url`` as ``worker.urls.url_host`` spelled it when this revision was made."""
    if not url:
        return None
    try:
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return None
    if not host:
        return None
    if host.isascii():
        return host
    try:
        return str(idna.encode(host, uts46=True).decode("ascii"))
    except idna.IDNAError:
        return host


def _address(report: Any) -> str | None:
    """The peer address of a stored report, compressed (as new results store it)."""
    peer = report.get("peer") if isinstance(report, dict) else None
    address = peer.get("address") if isinstance(peer, dict) else None
    if not isinstance(address, str) or not address:
        return None
    try:
        return ipaddress.ip_address(address).compressed
    except ValueError:
        return address[:64]


def _batches(connection: sa.Connection, query: sa.Select[Any], key: Any) -> Iterator[list[Any]]:
    """The rows of ``query`` in batches, by increasing ``key``."""
    last: Any = None
    while True:
        page = query if last is None else query.where(key > last)
        rows = list(connection.execute(page.order_by(key).limit(BATCH)))
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    with op.batch_alter_table("scan_jobs") as batch_op:
        batch_op.add_column(sa.Column("host", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("verdict", sa.String(length=16), nullable=True))
        batch_op.drop_index("ix_scan_jobs_state_created")
        batch_op.create_index(
            "ix_scan_jobs_state_created", ["state", "created_at", "id"], unique=False
        )
        batch_op.create_index("ix_scan_jobs_created_id", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_scan_jobs_host_created", ["host", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_scan_jobs_verdict_created_id", ["verdict", "created_at", "id"], unique=False
        )

    with op.batch_alter_table("scan_results") as batch_op:
        batch_op.add_column(sa.Column("final_host", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("peer_address", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_scan_results_final_host", ["final_host"], unique=False)
        batch_op.create_index("ix_scan_results_peer_address", ["peer_address"], unique=False)
        batch_op.create_index("ix_scan_results_sha256", ["sha256"], unique=False)

    connection = op.get_bind()
    verdict = sa.select(_results.c.verdict).where(_results.c.job_id == _jobs.c.id).scalar_subquery()
    jobs = sa.select(_jobs.c.id, _jobs.c.url, verdict.label("verdict"))
    for rows in _batches(connection, jobs, _jobs.c.id):
        connection.execute(
            _jobs.update().where(_jobs.c.id == sa.bindparam("job")),
            [{"job": row.id, "host": _host(row.url), "verdict": row.verdict} for row in rows],
        )
    results = sa.select(_results.c.id, _results.c.final_url, _results.c.report)
    for rows in _batches(connection, results, _results.c.id):
        connection.execute(
            _results.update().where(_results.c.id == sa.bindparam("result")),
            [
                {
                    "result": row.id,
                    "final_host": _host(row.final_url),
                    "peer_address": _address(row.report),
                }
                for row in rows
            ],
        )


def downgrade() -> None:
    with op.batch_alter_table("scan_results") as batch_op:
        batch_op.drop_index("ix_scan_results_sha256")
        batch_op.drop_index("ix_scan_results_peer_address")
        batch_op.drop_index("ix_scan_results_final_host")
        batch_op.drop_column("peer_address")
        batch_op.drop_column("final_host")

    with op.batch_alter_table("scan_jobs") as batch_op:
        batch_op.drop_index("ix_scan_jobs_verdict_created_id")
        batch_op.drop_index("ix_scan_jobs_host_created")
        batch_op.drop_index("ix_scan_jobs_created_id")
        batch_op.drop_index("ix_scan_jobs_state_created")
        batch_op.create_index("ix_scan_jobs_state_created", ["state", "created_at"], unique=False)
        batch_op.drop_column("verdict")
        batch_op.drop_column("host")

    op.drop_table("api_keys")
