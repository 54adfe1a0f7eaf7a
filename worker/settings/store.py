"""Where scanbox keeps its state: the database, Redis and its queues, the deployment's name."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from worker.queue.redis_url import check_redis_url

#: Embedded SQLite file in the working directory.
DEFAULT_DATABASE_URL = "file:./scanbox.db"
#: Name of the normal-priority RQ queue; the others add ``:high`` / ``:low``.
DEFAULT_QUEUE_NAME = "scan-jobs"


class StoreSettings(BaseSettings):
    """Database, Redis and queues."""

    #: Where jobs, results and audit rows live: ``file:PATH`` (embedded SQLite), a libSQL server
    #: or Turso (``libsql://``, ``https://``, ``wss://``) or PostgreSQL (``postgresql://``).
    turso_connection_url: str = DEFAULT_DATABASE_URL
    #: Token for a remote libSQL/Turso database (sent in Hrana's hello).
    turso_auth_token: SecretStr | None = None
    #: How long a database write keeps retrying while the database is locked.
    database_busy_timeout_ms: int = Field(default=30_000, ge=0)
    #: Full Redis URL; when unset it is built from the three settings after it.
    redis_url: str | None = None
    #: Redis host, used when ``REDIS_URL`` is unset.
    redis_host: str = "127.0.0.1"
    #: Redis port, used when ``REDIS_URL`` is unset.
    redis_port: int = Field(default=6379, ge=1, le=65535)
    #: Redis password, used when ``REDIS_URL`` is unset.
    redis_password: SecretStr | None = None
    #: Base name of the RQ queues.
    queue_name: str = DEFAULT_QUEUE_NAME
    #: Name of this deployment on its Docker hosts; reapers touch only their deployment's
    #: containers. Empty: derived from the database URL and the queue name.
    scanbox_deployment: str = ""

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_redis_url(value)
        return value

    @property
    def deployment(self) -> str:
        """This deployment's name: ``SCANBOX_DEPLOYMENT``, or one derived from DB and queue."""
        if self.scanbox_deployment:
            return self.scanbox_deployment
        database = self.turso_connection_url
        if database.startswith("file:"):
            database = "file:" + str(Path(database.removeprefix("file:")).resolve())
        digest = hashlib.sha256(f"{database}|{self.queue_name}".encode()).hexdigest()
        return f"auto-{digest[:12]}"

    @property
    def effective_redis_url(self) -> str:
        """The Redis URL to connect to, from ``REDIS_URL`` or host, port and password."""
        if self.redis_url:
            return self.redis_url
        auth = ""
        if self.redis_password is not None:
            auth = f":{quote(self.redis_password.get_secret_value(), safe='')}@"
        return f"redis://{auth}{self.redis_host}:{self.redis_port}/0"
