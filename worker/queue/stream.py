"""The submit stream on Redis: entries read through one consumer group, claimed, acknowledged.

Producers in any language ``XADD`` entries to the stream (``SUBMIT_STREAM``); every worker
reads it as a consumer of one group, :data:`GROUP`, so each entry is delivered to one of
them. An entry stays pending until its consumer acknowledges it; a consumer that died leaves
its entries pending, and any other claims them once they have been idle long enough
(``XAUTOCLAIM``). Entries the group has read and acknowledged are trimmed (``XTRIM MINID``),
so the stream holds only what is still to be done; refused entries go to the rejected
stream, which is capped, in the same ``MULTI`` as their acknowledgement.

Entries are read with their fields as Redis returns them, in order and as bytes, so that a
repeated field is seen rather than silently collapsed. This module speaks Redis only: what
an entry means is ``worker.submit.entries``'s business. Redis's errors come out as
:class:`StreamUnavailable`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis.exceptions
from redis import Redis

from worker.errors import ScanboxError

#: The consumer group every worker reads the stream in.
GROUP = "scanbox"
#: Suffix of the stream refused entries go to, with their reason.
REJECTED_SUFFIX = ":rejected"
#: Characters of a refused entry's field kept in the rejected stream.
MAX_KEPT_CHARS = 2048
#: Fields of a refused entry kept in the rejected stream.
MAX_KEPT_FIELDS = 16


class StreamUnavailable(ScanboxError):
    """Redis did not answer, or refused, a command on the submit stream."""


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One stream entry as written: its id and its field/value pairs, in order."""

    id: str
    fields: tuple[tuple[bytes, bytes], ...]


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _raw(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def _entries(items: Any) -> list[Entry]:
    """Entries from a raw ``[[id, [field, value, ...]], ...]`` reply (deleted ones dropped)."""
    found = []
    for item in items or ():
        entry_id, flat = item[0], item[1]
        if flat is None:
            continue
        pairs = tuple(
            (_raw(flat[index]), _raw(flat[index + 1])) for index in range(0, len(flat) - 1, 2)
        )
        found.append(Entry(id=_text(entry_id), fields=pairs))
    return found


def next_id(entry_id: str) -> str:
    """The smallest stream id after ``entry_id``."""
    milliseconds, _, sequence = entry_id.partition("-")
    return f"{milliseconds}-{int(sequence or 0) + 1}"


def _older(first: str, second: str) -> bool:
    a, _, b = first.partition("-")
    c, _, d = second.partition("-")
    return (int(a), int(b or 0)) < (int(c), int(d or 0))


@contextmanager
def _answered(what: str) -> Iterator[None]:
    try:
        yield
    except redis.exceptions.RedisError as error:
        raise StreamUnavailable(f"the submit stream: could not {what}: {error}") from error


class SubmitStream:
    """One consumer's view of the submit stream ``name``."""

    def __init__(self, *, redis: Redis, name: str, consumer: str, rejected_max: int) -> None:
        # A client of its own on the same pool: the raw replies below must not change how
        # anyone else's client parses these commands.
        self._redis = Redis(connection_pool=redis.connection_pool)
        self._redis.set_response_callback("XREADGROUP", lambda response, **_: response)
        self._redis.set_response_callback("XAUTOCLAIM", lambda response, **_: response)
        self.name = name
        self.consumer = consumer
        self.rejected = f"{name}{REJECTED_SUFFIX}"
        self.rejected_max = rejected_max
        self._cursor = "0-0"

    def _command(self, *args: Any) -> Any:
        """A command whose raw reply is wanted (redis-py leaves ``execute_command`` untyped)."""
        return self._redis.execute_command(*args)  # type: ignore[no-untyped-call]

    def ensure_group(self) -> None:
        """Create the stream and its group unless they exist; a new group starts at the
        beginning, so entries added before any worker ran are read too."""
        with _answered("create its consumer group"):
            try:
                self._redis.xgroup_create(self.name, GROUP, id="0", mkstream=True)
            except redis.exceptions.ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    def read(self, *, count: int, block_ms: int, own_pending: bool = False) -> list[Entry]:
        """Up to ``count`` new entries, waiting up to ``block_ms`` for one; with
        ``own_pending``, the entries delivered to this consumer and not yet acknowledged."""
        start = "0" if own_pending else ">"
        block = {} if own_pending else {"BLOCK": block_ms}
        args: list[Any] = ["XREADGROUP", "GROUP", GROUP, self.consumer, "COUNT", count]
        for option, value in block.items():
            args += [option, value]
        args += ["STREAMS", self.name, start]
        with _answered("read entries"):
            try:
                reply = self._command(*args)
            except redis.exceptions.ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                self.ensure_group()
                reply = self._command(*args)
        if not reply:
            return []
        if isinstance(reply, dict):  # RESP3: a map of stream name to entries
            return _entries(next(iter(reply.values())))
        return _entries(reply[0][1])

    def claim_idle(self, *, min_idle_ms: int, count: int) -> list[Entry]:
        """Take over up to ``count`` entries pending longer than ``min_idle_ms`` with any
        consumer (one that died), continuing where the last call stopped."""
        with _answered("claim idle entries"):
            reply = self._command(
                "XAUTOCLAIM", self.name, GROUP, self.consumer, min_idle_ms, self._cursor,
                "COUNT", count,
            )  # fmt: skip
        self._cursor = _text(reply[0])
        return _entries(reply[1])

    def ack(self, entry_ids: Sequence[str]) -> None:
        """Acknowledge entries whose jobs are committed."""
        if not entry_ids:
            return
        with _answered("acknowledge entries"):
            self._redis.xack(self.name, GROUP, *entry_ids)

    def reject(self, entry: Entry, *, reason: str) -> None:
        """Move ``entry`` to the rejected stream with ``reason``, acknowledged in one ``MULTI``."""
        kept = {
            _text(name)[:MAX_KEPT_CHARS]: _text(value)[:MAX_KEPT_CHARS]
            for name, value in entry.fields[:MAX_KEPT_FIELDS]
        }
        record: dict[Any, Any] = {
            "entry": entry.id,
            "reason": reason[:MAX_KEPT_CHARS],
            "fields": json.dumps(kept, ensure_ascii=False),
        }
        with _answered("reject an entry"), self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.rejected, record, maxlen=self.rejected_max, approximate=False)
            pipe.xack(self.name, GROUP, entry.id)
            pipe.execute()

    def trim(self) -> int:
        """Delete the entries the group has read and acknowledged; return how many.

        The group's last delivered id and its oldest pending entry are read in one
        ``MULTI``: every entry older than both has been read and acknowledged, and stays so.
        """
        with _answered("trim the stream"):
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.xinfo_groups(self.name)
                pipe.xpending(self.name, GROUP)
                groups, pending = pipe.execute()
            ours = [group for group in groups if _text(group["name"]) == GROUP]
            if not ours:
                return 0
            keep_from = next_id(_text(ours[0]["last-delivered-id"]))
            if pending and pending.get("pending"):
                oldest = _text(pending["min"])
                if _older(oldest, keep_from):
                    keep_from = oldest
            return int(self._redis.xtrim(self.name, minid=keep_from, approximate=False))

    def forget_consumers(self, *, idle_ms: int) -> int:
        """Remove consumers (other than this one) idle longer than ``idle_ms`` with nothing
        pending: each worker process that ever ran is one, and they would pile up."""
        removed = 0
        with _answered("remove idle consumers"):
            for consumer in self._redis.xinfo_consumers(self.name, GROUP):
                name = _text(consumer["name"])
                if name == self.consumer or consumer["pending"] or consumer["idle"] < idle_ms:
                    continue
                self._redis.xgroup_delconsumer(self.name, GROUP, name)
                removed += 1
        return removed
