"""browser mode: how each job and schedule scans, and a browser scan's artifacts

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

``scan_jobs.mode`` and ``schedules.mode`` (``http`` for every existing row: the fetcher, as
before) and ``scan_results.artifacts`` (JSON: each artifact's name, media type, size and
sha256; none for existing results).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scan_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mode", sa.String(length=8), nullable=False, server_default="http")
        )
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mode", sa.String(length=8), nullable=False, server_default="http")
        )
    with op.batch_alter_table("scan_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("artifacts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scan_results", schema=None) as batch_op:
        batch_op.drop_column("artifacts")
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_column("mode")
    with op.batch_alter_table("scan_jobs", schema=None) as batch_op:
        batch_op.drop_column("mode")
