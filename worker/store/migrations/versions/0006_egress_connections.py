"""egress connections: what each connection of a scan's egress session did

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

One column on ``scan_results``: ``egress`` (JSON, one object per connection the egress proxy
saw from the scan's container: host, port, every address it resolved to, the one connected
to, the decision and its reason, bytes each way). Results stored before it, and those of
fetchers run with a network of their own, have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scan_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("egress", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scan_results", schema=None) as batch_op:
        batch_op.drop_column("egress")
