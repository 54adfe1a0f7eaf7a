"""What a Redis URL may look like: the schemes and parts a Redis client connects with."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

#: URL schemes Redis clients connect with: plain TCP, TLS, a Unix socket.
REDIS_SCHEMES = ("redis", "rediss", "unix")


def check_redis_url(url: str) -> None:
    """Raise ``ValueError`` (never quoting the URL, which may hold a password) unless ``url`` is
    one a Redis client can use: ``redis://[:PASSWORD@]HOST[:PORT][/DB]``, ``rediss://`` for TLS,
    or ``unix:///PATH[?db=DB]``."""
    parts = urlsplit(url)
    if parts.scheme not in REDIS_SCHEMES:
        raise ValueError(
            "not a Redis URL: use redis://HOST:PORT/DB, rediss://HOST:PORT/DB (TLS) or unix:///PATH"
        )
    try:
        parts.port  # noqa: B018 (parsing the port is the check)
    except ValueError:
        raise ValueError("the port of the Redis URL is not a number from 1 to 65535") from None
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("a unix:// Redis URL needs the socket's path")
        database = dict(parse_qsl(parts.query)).get("db", "0")
    else:
        if not parts.hostname:
            raise ValueError("the Redis URL has no host")
        database = parts.path.lstrip("/") or "0"
    if not database.isdigit():
        raise ValueError("the database of the Redis URL is not a number (redis://HOST:PORT/0)")
