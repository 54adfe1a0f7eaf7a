"""Schema migrations: every change to scanbox's tables is an Alembic revision in ``versions/``.

- :mod:`worker.store.migrations.state`: which revision a database is at, read without Alembic;
  an empty database created at head on first use; the lock that serialises schema changes
- :mod:`worker.store.migrations.commands`: ``scanbox db upgrade``, ``current`` and ``history``
  through Alembic (a database made before migrations is stamped with the baseline first)
- ``env.py``: Alembic's environment (migrations run on the connection scanbox hands it);
  ``script.py.mako``: the template of a new revision; ``versions/``: the revisions
- ``python -m worker.store.migrations MESSAGE``: a new revision by autogenerate

Revision ``0001`` is the baseline: the schema ``SQLModel.metadata.create_all`` made before
scanbox had migrations. Workers, schedulers and producers refuse a database at any revision
other than ``HEAD``; an empty database is created at ``HEAD`` on first use.

Making a schema change
----------------------

1. Change the models (``worker/store/models.py``, ``statemachine/tables.py``).
2. Generate the revision from a checkout (editable install)::

       python -m worker.store.migrations "add scan_jobs.mode"

   This upgrades a scratch SQLite database to the current head, compares it with the models
   and writes ``versions/NNNN_add_scan_jobs_mode.py`` with the next number as its id (then
   ``ruff format`` it, as every file of the package).
3. Read the file and fix what autogenerate can't know: a rename comes out as a drop and an
   add (write ``alter_column(..., new_column_name=...)`` instead, or the column's data is
   lost); a new ``NOT NULL`` column on a table with rows needs a ``server_default`` or a
   data step (``op.execute(...)``) before the constraint; data migrations are written by
   hand. Columns are rendered with plain SQLAlchemy types (``sa.DateTime()`` for
   ``UTCDateTime``): a revision must not import model code, which will change after it.
4. SQLite and libSQL can't ``ALTER`` most things in place: keep every change to an existing
   table inside ``with op.batch_alter_table("scan_jobs") as batch_op:`` (autogenerate
   writes it so). On SQLite the table is copied into a new one and renamed, with foreign
   keys off for the upgrade and checked (``PRAGMA foreign_key_check``) before it commits; on
   PostgreSQL the same block issues plain ``ALTER TABLE``. SQLite's constraints have no
   names: to drop one, name it in the models first, or pass ``naming_convention`` /
   ``table_args`` to ``batch_alter_table``.
5. Append the new revision id to ``REVISIONS`` below (the last one is ``HEAD``).
   ``tests/unit/test_migrations.py`` fails until the list matches the scripts, and fails (on
   SQLite, the libSQL server and PostgreSQL) while ``upgrade head`` leaves any difference
   from the models (Alembic's ``compare_metadata``): a model change without a revision can't
   pass.
6. Add a test that upgrades a database with rows from the previous revision and checks them.

Revisions are applied by ``scanbox db upgrade`` in one transaction (all or nothing) while
workers are stopped; there are no downgrades on the command line.
"""

from __future__ import annotations

from pathlib import Path

#: Every revision in ``versions/``, oldest first (known without loading Alembic).
REVISIONS: tuple[str, ...] = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008")
#: The revision this code needs: the newest.
HEAD = REVISIONS[-1]
#: The first revision: the schema of every database made before migrations.
BASELINE = REVISIONS[0]
#: This package's directory (Alembic's script location).
SCRIPTS = Path(__file__).resolve().parent
#: Where the revisions are.
VERSIONS = SCRIPTS / "versions"
