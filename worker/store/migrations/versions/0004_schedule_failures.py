"""schedules that keep failing: the count of failed scans in a row, and the pause

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Four columns on ``schedules``: ``consecutive_failures`` (0 for every existing schedule, whose
latest scan is counted at the scheduler's next step), ``counted_job_id`` (the latest scan
counted), ``paused_at`` and ``pause_reason`` (empty: no schedule is paused by the upgrade).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("counted_job_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("paused_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("pause_reason", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as batch_op:
        batch_op.drop_column("pause_reason")
        batch_op.drop_column("paused_at")
        batch_op.drop_column("counted_job_id")
        batch_op.drop_column("consecutive_failures")
