"""The JSON report: one object per fetch, every key always present, every list and string bounded.

Schema 1, keys in the order printed::

    schema, requested_url, final_url, status_code, reason, http_version, not_modified,
    redirects, headers, content_type, charset, body, title, peer, tls, timings, attempts,
    error, observations

Values that are unknown, for instance everything about a response when none arrived, are null;
``body.sha256`` is null only when no response arrived. Where the schema leaves room:

- ``final_url`` and every response field describe the last response received, which is the
  redirect itself when the fetch stopped at a redirect (limit reached, target blocked).
- ``redirects`` lists every redirect response received, including one that was not followed.
- ``attempts`` counts requests sent: one per redirect hop plus one per retry.
- ``body.truncated`` is true whenever the body kept is not the whole body: cut at the cap, or
  cut short by an error reported in ``error``.
- ``timings.connect_ms`` is TCP connect plus TLS handshake of the final response's connection;
  ``ttfb_ms`` runs from sending its request to its response headers; ``startup_ms`` from the
  process's start (its interpreter's, under the container's init) to the first request being
  sent; ``total_ms`` is the whole fetch.
"""

from __future__ import annotations

from typing import Any

from fetcher.bounds import bounded
from fetcher.observations import analyse
from fetcher.outcome import FetchOutcome, ResponseFacts
from fetcher.tls import describe

#: Version of the report layout; bumped when a key changes meaning or disappears.
SCHEMA_VERSION = 1
#: Decimal places kept in millisecond timings.
TIMING_DECIMALS = 3


def build_report(outcome: FetchOutcome, *, now: float) -> dict[str, Any]:
    """Return the report for ``outcome``; ``now`` (Unix time) dates the certificate expiry."""
    final = outcome.final
    analysis = analyse(final, requested_url=outcome.requested_url)
    error = outcome.error
    report = {
        "schema": SCHEMA_VERSION,
        "requested_url": outcome.requested_url,
        "final_url": None if final is None else final.url,
        "status_code": None if final is None else final.status_code,
        "reason": None if final is None else final.reason,
        "http_version": None if final is None else final.http_version,
        "not_modified": outcome.not_modified,
        "redirects": [
            {"url": hop.url, "status_code": hop.status_code, "location": hop.location}
            for hop in outcome.redirects
        ],
        "headers": analysis.headers,
        "content_type": analysis.content_type,
        "charset": analysis.charset,
        "body": _body(final),
        "title": analysis.title,
        "peer": _peer(final),
        "tls": None if final is None or final.tls is None else describe(final.tls, now=now),
        "timings": {
            "total_ms": _milliseconds(outcome.total_ms),
            "startup_ms": _milliseconds(outcome.startup_ms),
            "connect_ms": _milliseconds(None if final is None else final.connect_ms),
            "ttfb_ms": _milliseconds(None if final is None else final.ttfb_ms),
        },
        "attempts": outcome.attempts,
        "error": (
            None
            if error is None
            else {"code": error.code, "message": error.message, "url": error.url}
        ),
        "observations": analysis.observations,
    }
    return dict(bounded(report))


def _body(final: ResponseFacts | None) -> dict[str, Any]:
    if final is None:
        return {"size": 0, "truncated": False, "sha256": None, "encoding": None}
    body = final.body
    return {
        "size": body.size,
        "truncated": body.truncated,
        "sha256": body.sha256,
        "encoding": body.encoding,
    }


def _peer(final: ResponseFacts | None) -> dict[str, Any] | None:
    if final is None or final.peer is None:
        return None
    return {"address": str(final.peer.address), "port": final.port}


def _milliseconds(value: float | None) -> float | None:
    return None if value is None else round(value, TIMING_DECIMALS)
