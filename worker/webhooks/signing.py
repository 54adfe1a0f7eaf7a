"""Signing webhooks as the Standard Webhooks specification says.

Each request carries three headers:

- ``webhook-id``: the message id, the same on every attempt of one delivery, so that a
  receiver can drop a repeat;
- ``webhook-timestamp``: the attempt's time, in whole seconds since the epoch, so that a
  receiver can refuse an old one (a replay);
- ``webhook-signature``: ``v1,`` and the base64 of HMAC-SHA256, keyed with the secret, over
  ``{id}.{timestamp}.{body}`` (the body as sent, byte for byte).

The secret (``WEBHOOK_SECRET``) is written ``whsec_`` and the base64 of 24 to 64 random
bytes; the key is those bytes. It is never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from worker.errors import ConfigurationError

#: The prefix of a secret as the specification writes it.
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
#: The length of a key, in bytes, that the specification asks for.
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64
#: The signature scheme: HMAC-SHA256, version 1.
SCHEME = "v1"


def parse_secret(secret: str) -> bytes:
    """The key of a ``whsec_`` secret; ``ConfigurationError`` (never quoting it) otherwise."""
    if not secret.startswith(SECRET_PREFIX):
        raise ConfigurationError(f"WEBHOOK_SECRET must start with {SECRET_PREFIX}")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            f"WEBHOOK_SECRET must be {SECRET_PREFIX} followed by base64"
        ) from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ConfigurationError(
            f"WEBHOOK_SECRET's key must be {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, not {len(key)}"
        )
    return key


def new_secret(*, size: int = 32) -> str:
    """A fresh secret for ``WEBHOOK_SECRET``."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(size)).decode("ascii")


class Signer:
    """Signs webhook requests with one key."""

    def __init__(self, *, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "Signer(key=…)"

    def signature(self, *, message_id: str, timestamp: int, body: bytes) -> str:
        """``v1,<base64 HMAC-SHA256>`` over ``{message_id}.{timestamp}.{body}``."""
        signed = f"{message_id}.{timestamp}.".encode() + body
        digest = hmac.new(self._key, signed, hashlib.sha256).digest()
        return f"{SCHEME},{base64.b64encode(digest).decode('ascii')}"

    def headers(self, *, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        """The three Standard Webhooks headers of one attempt."""
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": self.signature(
                message_id=message_id, timestamp=timestamp, body=body
            ),
        }
