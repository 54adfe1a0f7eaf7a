"""Opening the database the settings name: the one piece of wiring every command needs."""

from __future__ import annotations

from worker.settings import Settings
from worker.store.database import Database


def open_database(settings: Settings) -> Database:
    """The database named by ``TURSO_CONNECTION_URL`` (with ``TURSO_AUTH_TOKEN`` for libSQL)."""
    token = settings.turso_auth_token
    return Database(
        url=settings.turso_connection_url,
        busy_timeout_ms=settings.database_busy_timeout_ms,
        auth_token=None if token is None else token.get_secret_value(),
    )
