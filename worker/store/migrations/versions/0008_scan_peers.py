"""scan peers: every address a completed scan connected to, for the search by peer

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

One new table, ``scan_peers`` (``peer_address``, ``job_id``; its key starts with the
address, and ``job_id`` has an index of its own for retention): the address the final answer
came from and that of every connection of the scan's egress session, a browser's subresources
included. It is filled here from the results stored before it (their ``peer_address`` and
``egress`` record), at most 256 addresses a scan, as new results are. The search by peer reads
it, so ``ix_scan_results_peer_address`` (revision ``0002``) is dropped.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: Results read per statement while filling the table.
BATCH = 1000
#: Most addresses kept per scan.
MAX_PEERS = 256

_results = sa.table(
    "scan_results",
    sa.column("id", sa.Integer()),
    sa.column("job_id", sa.String()),
    sa.column("peer_address", sa.String()),
    sa.column("egress", sa.JSON()),
)
_peers = sa.table(
    "scan_peers",
    sa.column("peer_address", sa.String()),
    sa.column("job_id", sa.String()),
)


def _compressed(address: str) -> str:
    try:
        return ipaddress.ip_address(address).compressed
    except ValueError:
        return address[:64]


def _addresses(peer: str | None, egress: Any) -> list[str]:
    """The distinct addresses of one stored result, as new results list them."""
    found = [peer] if isinstance(peer, str) and peer else []
    for connection in egress if isinstance(egress, list) else ():
        address = connection.get("connected") if isinstance(connection, dict) else None
        if isinstance(address, str) and address:
            found.append(address)
    return list(dict.fromkeys(_compressed(address) for address in found))[:MAX_PEERS]


def _batches(connection: sa.Connection) -> Iterator[list[Any]]:
    query = sa.select(_results.c.id, _results.c.job_id, _results.c.peer_address, _results.c.egress)
    last: Any = None
    while True:
        page = query if last is None else query.where(_results.c.id > last)
        rows = list(connection.execute(page.order_by(_results.c.id).limit(BATCH)))
        if not rows:
            return
        yield rows
        last = rows[-1].id


def upgrade() -> None:
    op.create_table(
        "scan_peers",
        sa.Column("peer_address", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("peer_address", "job_id"),
    )
    with op.batch_alter_table("scan_peers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scan_peers_job_id"), ["job_id"], unique=False)
    with op.batch_alter_table("scan_results", schema=None) as batch_op:
        batch_op.drop_index("ix_scan_results_peer_address")
    connection = op.get_bind()
    for rows in _batches(connection):
        peers = {
            (address, row.job_id)
            for row in rows
            for address in _addresses(row.peer_address, row.egress)
        }
        if peers:
            connection.execute(
                _peers.insert(),
                [{"peer_address": address, "job_id": job} for address, job in sorted(peers)],
            )


def downgrade() -> None:
    with op.batch_alter_table("scan_results", schema=None) as batch_op:
        batch_op.create_index("ix_scan_results_peer_address", ["peer_address"], unique=False)
    op.drop_table("scan_peers")
