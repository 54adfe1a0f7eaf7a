"""child scans: the scan_lineage and scan_children tables

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

Two new tables, no change to an existing one: ``scan_lineage`` (a job's parent, depth and
the limits of its tree, for the jobs of a tree only) and ``scan_children`` (what each
completed scan of a tree led to, and the job that scans it). Existing jobs have no lineage:
they make no children, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scan_children",
        sa.Column("parent_id", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("created", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("parent_id", "job_id"),
    )
    with op.batch_alter_table("scan_children", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scan_children_job_id"), ["job_id"], unique=False)

    op.create_table(
        "scan_lineage",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("max_depth", sa.Integer(), nullable=False),
        sa.Column("max_children", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("job_id"),
    )
    with op.batch_alter_table("scan_lineage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scan_lineage_parent_id"), ["parent_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("scan_lineage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scan_lineage_parent_id"))
    op.drop_table("scan_lineage")
    with op.batch_alter_table("scan_children", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scan_children_job_id"))
    op.drop_table("scan_children")
