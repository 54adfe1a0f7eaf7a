"""Alembic's environment for scanbox: migrations run on the connection scanbox hands over.

``worker.store.migrations.commands`` opens that connection, in a transaction under the schema
lock, and puts it in ``config.attributes["connection"]``; Alembic then runs inside that
transaction. There is no offline (``--sql``) mode and no URL of its own: the database is the
one the settings name, reached as every other part of scanbox reaches it.
"""

from __future__ import annotations

from alembic import context

from worker.errors import MigrationFailed
from worker.store.migrations.options import context_options

connection = context.config.attributes.get("connection")
if connection is None:
    raise MigrationFailed(
        "scanbox's migrations run on a connection scanbox opens: use 'scanbox db upgrade'"
    )
context.configure(connection=connection, **context_options())
with context.begin_transaction():
    context.run_migrations()
