"""What a submit stream entry asks for, checked field by field before anything is stored.

An entry is written by a producer in any language, so it is read as hostile: every field name
must be one of :data:`FIELDS`, once; every value valid UTF-8 and short; ``url`` is required.
Optional fields with an empty value count as absent. The fields:

- ``url``: the URL to scan (the same checks as ``scanbox submit``)
- ``priority``: ``high``, ``normal`` (the default) or ``low``
- ``mode``: ``http`` (the default: the fetcher) or ``browser`` (Chromium)
- ``force``: ``true``/``1``/``yes`` makes a new job even within the deduplication window
- ``callback_url``: where to POST the job's terminal state (default ``WEBHOOK_URL``)
- ``request_id``: the idempotency key (default: the entry's own id)

An entry that fails any check is refused whole with the reason; nothing of it is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from statemachine.tables import HTTP_MODE, MODES
from worker.errors import UsageError
from worker.queue.dispatch import PRIORITIES
from worker.queue.stream import Entry
from worker.submit.callbacks import CallbackRules
from worker.submit.plan import Request, check_requests

#: The fields an entry may have.
FIELDS = frozenset({"url", "priority", "mode", "force", "callback_url", "request_id"})
#: Longest value of any field, in bytes.
MAX_VALUE_BYTES = 4096
#: Most fields an entry may have (pairs).
MAX_FIELDS = len(FIELDS)
#: Values ``force`` may take, and what each means.
FORCE_VALUES = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@dataclass(frozen=True, kw_only=True)
class StreamRequest:
    """An entry that passed every check: the request it makes and how it is queued."""

    entry_id: str
    request: Request
    priority: str
    force: bool
    mode: str = HTTP_MODE


@dataclass(frozen=True, kw_only=True)
class Rejection:
    """An entry refused, and why."""

    entry: Entry
    reason: str


def _fields(entry: Entry) -> dict[str, str]:
    if len(entry.fields) > MAX_FIELDS:
        raise UsageError(f"the entry has {len(entry.fields)} fields; at most {MAX_FIELDS}")
    found: dict[str, str] = {}
    for raw_name, raw_value in entry.fields:
        try:
            name = raw_name.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError("a field name is not UTF-8") from None
        if name not in FIELDS:
            raise UsageError(f"unknown field {name[:64]!r} (use {', '.join(sorted(FIELDS))})")
        if name in found:
            raise UsageError(f"field {name!r} is given more than once")
        if len(raw_value) > MAX_VALUE_BYTES:
            raise UsageError(f"field {name!r} is longer than {MAX_VALUE_BYTES} bytes")
        try:
            found[name] = raw_value.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"field {name!r} is not UTF-8") from None
    return found


def _choice(fields: dict[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = fields.get(name) or default
    if value not in choices:
        raise UsageError(f"unknown {name} {value[:64]!r} (use one of {', '.join(choices)})")
    return value


def parse_entry(
    entry: Entry, *, default_callback: str | None, callbacks: CallbackRules
) -> StreamRequest | Rejection:
    """What ``entry`` asks for, checked as a submission would be; or why it is refused."""
    try:
        fields = _fields(entry)
        if not fields.get("url"):
            raise UsageError("the entry has no url")
        priority = _choice(fields, "priority", PRIORITIES, "normal")
        mode = _choice(fields, "mode", MODES, HTTP_MODE)
        force_text = (fields.get("force") or "false").lower()
        if force_text not in FORCE_VALUES:
            raise UsageError(f"force {force_text[:16]!r} is not true or false")
        request = Request(
            url=fields["url"],
            callback_url=fields.get("callback_url") or default_callback,
            request_id=fields.get("request_id") or entry.id,
            entry_id=entry.id,
        )
        check_requests([request], callbacks=callbacks)
    except UsageError as error:
        return Rejection(entry=entry, reason=str(error))
    return StreamRequest(
        entry_id=entry.id,
        request=request,
        priority=priority,
        force=FORCE_VALUES[force_text],
        mode=mode,
    )
