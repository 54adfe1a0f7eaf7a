"""Page cursors: opaque to clients, signed so that a changed or forged one is refused.

A cursor holds where the page before ended (``worker.store.search.Position``) and a digest of
the search it belongs to, as base64url JSON followed by an HMAC-SHA256 of it (128 bits) under
``API_SECRET``. A cursor is accepted only with the filters it was made for, and only by API
processes that share its secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime

from worker.api.problems import Problem
from worker.store.search import Position, ScanFilter

#: Longest cursor read; anything longer is refused unread.
MAX_CURSOR = 512
#: Bytes of the signature kept.
SIGNATURE_BYTES = 16


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _digest(filters: ScanFilter) -> str:
    canonical = json.dumps(filters.as_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class CursorSigner:
    """Makes and checks cursors under one secret."""

    def __init__(self, *, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: str) -> str:
        mac = hmac.new(self._secret, b"cursor:" + payload.encode("ascii"), hashlib.sha256)
        return _encode(mac.digest()[:SIGNATURE_BYTES])

    def encode(self, position: Position, *, filters: ScanFilter) -> str:
        """The cursor of the page after ``position`` in the search ``filters``."""
        body = {"t": position.created_at.isoformat(), "i": position.job_id, "f": _digest(filters)}
        payload = _encode(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def decode(self, cursor: str, *, filters: ScanFilter) -> Position:
        """The position ``cursor`` holds; a ``Problem`` (400) for any cursor not made for
        ``filters`` under this secret."""
        if len(cursor) > MAX_CURSOR or not cursor.isascii():
            raise Problem("invalid-cursor", "the cursor is not one this API made")
        payload, _, signature = cursor.partition(".")
        if not hmac.compare_digest(self._sign(payload), signature):
            raise Problem("invalid-cursor", "the cursor is not one this API made, or was changed")
        try:
            body = json.loads(_decode(payload))
            position = Position(created_at=datetime.fromisoformat(body["t"]), job_id=str(body["i"]))
            digest = body["f"]
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise Problem("invalid-cursor", "the cursor is not one this API made") from None
        if position.created_at.tzinfo is None:
            raise Problem("invalid-cursor", "the cursor is not one this API made")
        if digest != _digest(filters):
            raise Problem("invalid-cursor", "the cursor belongs to another search (other filters)")
        return position
