"""submit requests and the webhook outbox

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Two new tables, nothing else changed: ``submit_requests`` (a producer's request id, the
idempotency key of a stream entry, and its callback URL, with the job it made) and
``webhook_deliveries`` (the outbox written with a job's terminal move).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Constraints in create_all's order, so that a database made at head on first use and one
    # upgraded to it hold the same DDL text.
    op.create_table(
        "submit_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("callback_url", sa.String(), nullable=True),
        sa.Column("entry_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id"),
        sa.ForeignKeyConstraint(["job_id"], ["scan_jobs.id"]),
    )
    with op.batch_alter_table("submit_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_submit_requests_job_id"), ["job_id"], unique=False)

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("last_response", sa.String(), nullable=True),
        sa.Column("last_peer", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["job_id"], ["scan_jobs.id"]),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_deliveries_job_id"), ["job_id"], unique=False)
        batch_op.create_index(
            "ix_webhook_deliveries_status_due", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_status_due")
        batch_op.drop_index(batch_op.f("ix_webhook_deliveries_job_id"))

    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("submit_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_submit_requests_job_id"))

    op.drop_table("submit_requests")
