"""Conditional re-scans: ask a URL's server whether its content changed since the last scan.

After a full answer (2xx) scanbox keeps the URL's ``ETag`` and ``Last-Modified`` with a
pointer to that result, keyed by the normalised URL (``url_validators``). The next scan of the
URL sends them back (``If-None-Match`` / ``If-Modified-Since``). A 304 completes the job as
*not modified*: its result row holds the 304's own facts, repeats the previous verdict and
points to the previous result (``previous_result_id``); nothing else is copied, and only the
validators that changed are written back. Validators whose result is gone (retention) are
not sent, so the scan is a full one.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy.engine import Connection

from worker.analysis.report import FetchReport
from worker.analysis.rules import Judgement, Verdict
from worker.store.database import Database
from worker.store.validators import find_validators, replace_validators, update_validators
from worker.urls import normalise_url

#: Longest validator kept; longer ones are not worth a header (and the fetcher caps headers).
MAX_VALIDATOR_LENGTH = 512


@dataclass(frozen=True, kw_only=True)
class Previous:
    """The last full scan of a URL: the validators it was answered with, and its verdict."""

    url_key: str
    result_id: int
    etag: str | None
    last_modified: str | None
    verdict: str
    score: int

    def fetch_args(self) -> list[str]:
        """The fetcher options that make the request conditional on these validators."""
        args = []
        if self.etag is not None:
            args.append(f"--if-none-match={self.etag}")
        if self.last_modified is not None:
            args.append(f"--if-modified-since={self.last_modified}")
        return args

    def judgement(self) -> Judgement:
        """The verdict a 304 repeats: the previous result's (its reasons stay with it)."""
        return Judgement(verdict=cast(Verdict, self.verdict), score=self.score, reasons=())


def load_previous(db: Database, url: str) -> Previous | None:
    """The validators kept for ``url`` and the verdict of their result, if both still exist."""
    url_key = normalise_url(url)
    with db.read() as session:
        kept = find_validators(session.connection(), url_key)
    if kept is None or (kept.etag is None and kept.last_modified is None):
        return None
    return Previous(url_key=url_key, **kept._asdict())


def result_columns(report: FetchReport, previous: Previous | None) -> dict[str, Any]:
    """Columns of the result row that say whether the content is a previous result's."""
    if previous is None or not report.not_modified:
        return {"not_modified": False, "previous_result_id": None}
    return {"not_modified": True, "previous_result_id": previous.result_id}


def remember(
    connection: Connection,
    *,
    url: str,
    job_id: str,
    result_id: int,
    report: FetchReport,
    previous: Previous | None,
    now: datetime,
) -> None:
    """Keep what ``report`` says to ask next time; write only what changed.

    A full answer (2xx) replaces the URL's validators and points them to ``result_id``; one
    without validators drops them. A 304 updates the validators it repeats if they changed
    and keeps pointing to the result that has the content. Other answers change nothing.
    """
    etag = _usable(report.headers.get("etag"))
    last_modified = _http_date(report.headers.get("last-modified"))
    url_key = normalise_url(url)
    if previous is not None and report.not_modified:
        changed = {
            name: value
            for name, value, kept in (
                ("etag", etag, previous.etag),
                ("last_modified", last_modified, previous.last_modified),
            )
            if value is not None and value != kept
        }
        if changed:
            update_validators(connection, url_key, now=now, **changed)
        return
    if report.error is not None or report.status_code is None:
        return
    if not 200 <= report.status_code < 300:
        return
    replace_validators(
        connection,
        url_key,
        etag=etag,
        last_modified=last_modified,
        result_id=result_id,
        job_id=job_id,
        now=now,
    )


def _usable(value: str | None) -> str | None:
    """``value`` if the fetcher can send it back as a header (printable ASCII, short)."""
    if value is None or not value or len(value) > MAX_VALIDATOR_LENGTH:
        return None
    if not all(" " <= character <= "~" for character in value):
        return None
    return value


def _http_date(value: str | None) -> str | None:
    """``value`` if it is a usable HTTP date (the fetcher refuses anything else)."""
    usable = _usable(value)
    if usable is None:
        return None
    try:
        email.utils.parsedate_to_datetime(usable)
    except (TypeError, ValueError, IndexError):
        return None
    return usable
