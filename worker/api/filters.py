"""The search's query parameters, checked and spelled as the columns hold them.

Each bad value is one ``invalid-request`` problem (422) with one line saying why, in the words
the CLI uses for the same mistakes.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import get_args

from statemachine.states import State
from worker.analysis.rules import Verdict
from worker.api.problems import Problem
from worker.store.results import peer_address
from worker.store.search import ScanFilter
from worker.urls import MAX_HOST_LENGTH, host_key

#: Verdicts a search may ask for.
VERDICTS: tuple[str, ...] = get_args(Verdict)
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True, kw_only=True)
class SearchParams:
    """A search's parameters as they came, every one optional."""

    state: str | None = None
    verdict: str | None = None
    host: str | None = None
    final_host: str | None = None
    peer: str | None = None
    sha256: str | None = None
    since: str | None = None


def _bad(message: str) -> Problem:
    return Problem("invalid-request", message)


def _state(value: str) -> State:
    try:
        return State(value.strip().upper())
    except ValueError:
        names = ", ".join(member.value for member in State)
        raise _bad(f"unknown state {value[:40]!r} (use one of {names})") from None


def _verdict(value: str) -> str:
    verdict = value.strip().lower()
    if verdict not in VERDICTS:
        raise _bad(f"unknown verdict {value[:40]!r} (use one of {', '.join(VERDICTS)})")
    return verdict


def _host(value: str, *, name: str) -> str:
    host = host_key(value)
    if not host or len(host) > MAX_HOST_LENGTH or not host.isprintable() or "/" in host:
        raise _bad(f"{name} must be a host name or an IP address")
    return host


def _peer(value: str) -> str:
    try:
        ipaddress.ip_address(value.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        raise _bad(f"peer must be an IP address, not {value[:60]!r}") from None
    return peer_address(value.strip().removeprefix("[").removesuffix("]"))


def _since(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _bad(
            f"since must be an ISO 8601 time such as 2026-12-01T10:00:00Z, not {value[:40]!r}"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_filters(params: SearchParams) -> ScanFilter:
    """The filter ``params`` ask for; an ``invalid-request`` problem for a bad value."""
    sha256 = None
    if params.sha256 is not None:
        if not _SHA256.fullmatch(params.sha256.strip()):
            raise _bad("sha256 must be 64 hex digits")
        sha256 = params.sha256.strip().lower()
    return ScanFilter(
        state=None if params.state is None else _state(params.state),
        verdict=None if params.verdict is None else _verdict(params.verdict),
        host=None if params.host is None else _host(params.host, name="host"),
        final_host=None
        if params.final_host is None
        else _host(params.final_host, name="final_host"),
        peer=None if params.peer is None else _peer(params.peer),
        sha256=sha256,
        since=None if params.since is None else _since(params.since),
    )
