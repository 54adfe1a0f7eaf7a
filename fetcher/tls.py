"""Facts about a verified TLS session and its certificate, for the report's ``tls`` field."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, NamedTuple

#: Seconds in a day, for ``days_to_expiry``.
SECONDS_PER_DAY = 86_400
#: How certificate validity dates are written in the report (ISO 8601, UTC).
ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


class TlsSession(NamedTuple):
    """What the handshake established, captured before the socket closes."""

    version: str
    cipher: str
    #: ``SSLSocket.getpeercert()`` of the verified peer certificate.
    certificate: dict[str, Any] | None


def describe(session: TlsSession, *, now: float) -> dict[str, Any]:
    """Return the report's ``tls`` object; ``now`` (Unix time) dates ``days_to_expiry``."""
    certificate = session.certificate or {}
    not_before = _cert_time(certificate.get("notBefore"))
    not_after = _cert_time(certificate.get("notAfter"))
    return {
        "version": session.version,
        "cipher": session.cipher,
        "subject_cn": _name_field(certificate.get("subject"), "commonName"),
        "issuer_cn": _name_field(certificate.get("issuer"), "commonName"),
        "issuer_o": _name_field(certificate.get("issuer"), "organizationName"),
        "san": [str(value) for _kind, value in _pairs(certificate.get("subjectAltName"))],
        "not_before": _iso(not_before),
        "not_after": _iso(not_after),
        "days_to_expiry": (
            None if not_after is None else round((not_after - now) / SECONDS_PER_DAY, 3)
        ),
        "serial": _text(certificate.get("serialNumber")),
    }


def _name_field(name: Any, field: str) -> str | None:
    """Return the first ``field`` of a distinguished name as getpeercert() lays it out."""
    if not isinstance(name, tuple):
        return None
    for relative_name in name:
        for key, value in _pairs(relative_name):
            if key == field:
                return str(value)
    return None


def _pairs(value: Any) -> Iterable[tuple[Any, Any]]:
    if not isinstance(value, tuple):
        return ()
    return (item for item in value if isinstance(item, tuple) and len(item) == 2)


def _cert_time(value: Any) -> float | None:
    import ssl  # noqa: PLC0415 (plain http never loads it; https has by now)

    if not isinstance(value, str):
        return None
    try:
        return float(ssl.cert_time_to_seconds(value))
    except ValueError:
        return None


def _iso(seconds: float | None) -> str | None:
    return None if seconds is None else time.strftime(ISO_UTC, time.gmtime(seconds))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
