"""``scanbox db``'s work through Alembic: upgrade a database, say where it is, list revisions.

An upgrade is one transaction on one connection, which ``env.py`` is handed: under the schema
lock (``BEGIN IMMEDIATE`` on SQLite and libSQL, an advisory lock on PostgreSQL), so that two
upgrades, or an upgrade and a first start, never interleave; with SQLite's foreign keys off
while batch mode copies tables, and checked before the commit. A database made before
migrations is stamped with the baseline first, in the same transaction, once its tables are
found to be the baseline's.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from sqlalchemy.engine import Connection

from worker.errors import MigrationFailed, SchemaMismatch, UsageError
from worker.store.database import Database
from worker.store.migrations import BASELINE, HEAD, SCRIPTS, VERSIONS
from worker.store.migrations.baseline import check_baseline
from worker.store.migrations.state import SchemaState, lock_schema, read_state

#: Where a database stands against this code (``scanbox db current``).
Standing = Literal["current", "behind", "unknown", "pre-migration", "empty"]
#: The revision directories of scanbox itself.
SCANBOX_VERSIONS: tuple[Path, ...] = (VERSIONS,)


@dataclass(frozen=True, kw_only=True)
class Revision:
    """One revision script: its id, the one it follows, and what it does."""

    id: str
    down_revision: str | None
    message: str
    head: bool


@dataclass(frozen=True, kw_only=True)
class Upgrade:
    """What ``upgrade`` did: the revisions before and after, and whether it stamped the
    baseline on tables made before migrations."""

    before: tuple[str, ...]
    after: tuple[str, ...]
    stamped_baseline: bool


def alembic_config(*, versions: Sequence[Path] = SCANBOX_VERSIONS) -> Config:
    """Alembic's configuration for scanbox's scripts (``versions``: where revisions are)."""
    # Quiet: scanbox prints its own lines, and nothing of Alembic's goes to stdout.
    config = Config(cmd_opts=argparse.Namespace(quiet=True))
    config.set_main_option("script_location", _escaped(str(SCRIPTS)))
    config.set_main_option("path_separator", "os")
    config.set_main_option(
        "version_locations", _escaped(os.pathsep.join(str(path) for path in versions))
    )
    return config


def _escaped(value: str) -> str:
    """``value`` for ``ConfigParser``, which reads ``%`` as interpolation."""
    return value.replace("%", "%%")


def scripts(*, versions: Sequence[Path] = SCANBOX_VERSIONS) -> ScriptDirectory:
    """The revision scripts."""
    return ScriptDirectory.from_config(alembic_config(versions=versions))


def known_revisions(*, versions: Sequence[Path] = SCANBOX_VERSIONS) -> frozenset[str]:
    """The ids of every revision this code has."""
    return frozenset(script.revision for script in scripts(versions=versions).walk_revisions())


def history(*, versions: Sequence[Path] = SCANBOX_VERSIONS) -> list[Revision]:
    """Every revision, newest first."""
    directory = scripts(versions=versions)
    heads = set(directory.get_heads())
    found = []
    for script in directory.walk_revisions():
        down = script.down_revision
        found.append(
            Revision(
                id=script.revision,
                down_revision=down if isinstance(down, str) or down is None else ",".join(down),
                message=(script.doc or "").strip(),
                head=script.revision in heads,
            )
        )
    return found


def standing(state: SchemaState, *, known: frozenset[str], head: str = HEAD) -> Standing:
    """Where a database in ``state`` stands against ``head``, given the ``known`` revisions."""
    if state.revisions == (head,):
        return "current"
    if state.empty:
        return "empty"
    if state.premigration:
        return "pre-migration"
    if len(state.revisions) == 1 and state.revisions[0] in known:
        return "behind"
    return "unknown"


def current(db: Database) -> SchemaState:
    """The revision ``db`` is at, read without creating or changing anything."""
    with db.transaction(write=False) as connection:
        return read_state(connection)


def upgrade(
    db: Database, *, target: str = "head", versions: Sequence[Path] = SCANBOX_VERSIONS
) -> Upgrade:
    """Upgrade ``db`` to ``target`` in one transaction (a pre-migration one is stamped first).

    An empty database gets every revision from the first; a database at a revision this code
    does not know is refused (``SchemaMismatch``), and so is one whose tables made before
    migrations are not the baseline's (``MigrationFailed``); both are left unchanged.
    """
    config = alembic_config(versions=versions)
    directory = ScriptDirectory.from_config(config)
    known = frozenset(script.revision for script in directory.walk_revisions())
    if target != "head" and target not in known:
        raise UsageError(f"unknown revision {target[:40]!r} (see 'scanbox db history')")
    with _migration_transaction(db) as connection:
        before = read_state(connection)
        if standing(before, known=known) == "unknown":
            raise SchemaMismatch(found=before.revisions, needed=HEAD, known=False)
        _refuse_downgrade(directory, before, target=target)
        config.attributes["connection"] = connection
        if before.premigration:
            check_baseline(connection)
            command.stamp(config, BASELINE)
        command.upgrade(config, target)
        after = read_state(connection)
    return Upgrade(
        before=before.revisions, after=after.revisions, stamped_baseline=before.premigration
    )


def _refuse_downgrade(directory: ScriptDirectory, state: SchemaState, *, target: str) -> None:
    """Raise ``UsageError`` if ``target`` is older than the database's revision."""
    if target == "head" or not state.revisions or state.revisions == (target,):
        return
    older = {
        script.revision
        for revision in state.revisions
        for script in directory.iterate_revisions(revision, "base")
    }
    if target in older:
        raise UsageError(
            f"the database is at revision {', '.join(state.revisions)}, past {target}: "
            "scanbox does not downgrade"
        )


@contextmanager
def _migration_transaction(db: Database) -> Iterator[Connection]:
    """One write transaction for migrations, under the schema lock, committed at the end."""
    sqlite = db.backend != "postgresql"
    with db.engine.connect() as connection:
        if sqlite:
            # Batch mode copies a table and drops the old one, which foreign keys would
            # refuse. SQLite ignores this pragma inside a transaction, so it is set first,
            # on the driver's connection (a statement through SQLAlchemy would begin one).
            _pragma(connection, "foreign_keys=OFF")
        try:
            with connection.begin():
                lock_schema(connection)
                yield connection
                if sqlite:
                    _check_foreign_keys(connection)
        finally:
            if sqlite:
                _pragma(connection, "foreign_keys=ON")


def _pragma(connection: Connection, pragma: str) -> None:
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def _check_foreign_keys(connection: Connection) -> None:
    """Raise ``MigrationFailed`` (rolling the upgrade back) if any foreign key is broken."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise MigrationFailed(
            f"the upgrade would leave {len(broken)} row(s) with a broken foreign key, the "
            f"first in table {broken[0][0]!r}: nothing was changed"
        )


def new_revision(
    *,
    message: str,
    workdir: Path,
    into: Path = VERSIONS,
    versions: Sequence[Path] = SCANBOX_VERSIONS,
) -> Path:
    """Write the next revision into ``into`` by autogenerate; return its path.

    The models are compared with a scratch SQLite database in ``workdir``, upgraded to the
    current head; the id is the next number (``0002`` after ``0001``).
    """
    db = Database(url=f"file:{workdir / 'head.db'}")
    try:
        upgrade(db, versions=versions)
        config = alembic_config(versions=versions)
        numbers = [
            int(revision) for revision in known_revisions(versions=versions) if revision.isdigit()
        ]
        with db.engine.connect() as connection, connection.begin():
            config.attributes["connection"] = connection
            script = command.revision(
                config,
                message=message,
                autogenerate=True,
                rev_id=f"{max(numbers, default=0) + 1:04d}",
                version_path=str(into),
            )
    finally:
        db.dispose()
    if not isinstance(script, Script):
        raise MigrationFailed(f"Alembic wrote no single revision for {message!r}")
    return Path(script.path)
