"""The ``api_keys`` table: keys made, listed, revoked, and found by the hash of a request's key.

Only the hash of a key is stored (``worker.api.keys``); nothing here ever sees the key itself.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select

from worker.errors import UsageError
from worker.store.database import Database
from worker.store.models import API_KEYS, ApiKey

#: Longest name a key may have.
MAX_NAME = 200


def create_key(
    db: Database, *, key_id: str, name: str, scope: str, key_hash: str, now: datetime
) -> ApiKey:
    """Store a new key's hash under ``key_id``; a name must be short, printable text."""
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise UsageError(f"a key's name must be 1 to {MAX_NAME} printable characters")
    key = ApiKey(id=key_id, name=name, scope=scope, key_hash=key_hash, created_at=now)
    with db.write() as connection:
        connection.execute(
            API_KEYS.insert().values(
                id=key.id, name=key.name, scope=key.scope, key_hash=key.key_hash, created_at=now
            )
        )
    return key


def list_keys(db: Database) -> list[ApiKey]:
    """Every key, oldest first, revoked ones included."""
    with db.read() as session:
        return list(session.exec(select(ApiKey).order_by(col(ApiKey.created_at), col(ApiKey.id))))


def revoke_key(db: Database, key_id: str, *, now: datetime) -> ApiKey:
    """Revoke ``key_id``: every request with it is refused from then on. ``UsageError`` when
    there is no such key; revoking a revoked key keeps its first revocation time."""
    with db.write() as connection:
        connection.execute(
            API_KEYS.update()
            .where(API_KEYS.c.id == key_id, API_KEYS.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return db.get(ApiKey, key_id, missing=_unknown_key)


def _unknown_key(key_id: str) -> UsageError:
    return UsageError(f"no API key with id {key_id[:40]!r} (see 'scanbox apikey list')")


def find_key(db: Database, key_hash: str) -> ApiKey | None:
    """The key whose hash is ``key_hash``, revoked or not (one indexed read, on every API
    request: a plain statement, no ORM session)."""
    with db.read() as session:
        row = (
            session.connection()
            .execute(sa.select(API_KEYS).where(API_KEYS.c.key_hash == key_hash))
            .one_or_none()
        )
    return None if row is None else ApiKey.model_validate(dict(row._mapping))
