"""API keys: their form, their scopes, and the hash that is all the database keeps of them.

A key is ``sbx_<id>_<secret>``: ``id`` (8 hex digits) names it in ``scanbox apikey list`` and
logs; ``secret`` is 32 random bytes (43 base64url characters). With 256 random bits a plain
SHA-256 is the right hash (a slow password hash buys nothing against a key nobody can guess),
and a request's key is found by its hash alone. Scopes are ranked: ``read`` (look at scans),
``submit`` (read, and submit scans), ``admin`` (everything, ``/metrics`` included).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

#: Scopes, weakest first; a key may do what its scope and every weaker one allow.
SCOPES: tuple[str, ...] = ("read", "submit", "admin")
#: Every key starts with this.
KEY_PREFIX = "sbx_"
#: The whole form of a key; anything else is refused before the database is asked.
KEY_PATTERN = re.compile(r"sbx_([0-9a-f]{8})_[A-Za-z0-9_-]{43}")
#: Random bytes in a key's secret part.
SECRET_BYTES = 32


@dataclass(frozen=True, kw_only=True)
class NewKey:
    """A key just made: ``key`` is shown once and never stored; ``key_hash`` is."""

    key_id: str
    key: str
    key_hash: str


def hash_key(key: str) -> str:
    """The SHA-256 of ``key``, hex: what ``api_keys.key_hash`` holds."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def new_key() -> NewKey:
    """A fresh random key, its id and its hash."""
    key_id = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
    return NewKey(key_id=key_id, key=key, key_hash=hash_key(key))


def well_formed(key: str) -> bool:
    """Whether ``key`` has a key's form (it may still be unknown or revoked)."""
    return KEY_PATTERN.fullmatch(key) is not None


def allows(scope: str, needed: str) -> bool:
    """Whether a key of ``scope`` may do what needs ``needed``."""
    return scope in SCOPES and SCOPES.index(scope) >= SCOPES.index(needed)
