"""CSRF tokens of the pages' forms, and the check that a form was posted from scanbox's pages.

A form that changes something (submit, logout) carries a token: an HMAC under ``API_SECRET``
of the logged-in key's id, so a page of another site can't make one. The login cookie is
``SameSite=Strict`` besides, and every form post must come from this origin (``Origin``, or
``Sec-Fetch-Site``, when the browser sends them).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlsplit


class FormTokens:
    """Makes and checks the CSRF tokens of one secret."""

    def __init__(self, *, secret: bytes) -> None:
        self._secret = secret

    def token(self, key_id: str) -> str:
        """The token of forms shown to the key ``key_id``."""
        return hmac.new(self._secret, b"form:" + key_id.encode(), hashlib.sha256).hexdigest()

    def valid(self, key_id: str, token: str) -> bool:
        """Whether ``token`` is the one of ``key_id``'s forms."""
        return hmac.compare_digest(self.token(key_id), token)


def same_origin(headers: Mapping[str, str], *, host: str) -> bool:
    """Whether a form post came from a page of this origin, as far as the browser says.

    ``Sec-Fetch-Site`` (sent by every current browser) must be ``same-origin``; without it,
    ``Origin`` must name ``host``; a request with neither (not a browser's) is let through,
    since it carries no cookie a browser would add on its own.
    """
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = headers.get("origin")
    if origin is None:
        return True
    return origin != "null" and urlsplit(origin).netloc == host
