"""Submit stream entries are read as hostile: every field checked, and a refusal says why."""

from __future__ import annotations

import ipaddress

import pytest

from worker.queue.stream import Entry, next_id
from worker.submit.callbacks import CallbackRules
from worker.submit.entries import Rejection, StreamRequest, parse_entry

RULES = CallbackRules(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))


def _parse(*pairs: tuple[bytes, bytes], default: str | None = None) -> StreamRequest | Rejection:
    return parse_entry(
        Entry(id="1700000000000-3", fields=pairs), default_callback=default, callbacks=RULES
    )


def test_a_plain_entry_takes_its_own_id_as_request_id() -> None:
    parsed = _parse((b"url", b"http://127.0.0.1/a"))
    assert isinstance(parsed, StreamRequest)
    assert (parsed.priority, parsed.force) == ("normal", False)
    assert parsed.request.request_id == "1700000000000-3"
    assert parsed.request.entry_id == "1700000000000-3"
    assert parsed.request.callback_url is None


def test_every_field() -> None:
    parsed = _parse(
        (b"url", b"http://127.0.0.1/a"),
        (b"priority", b"high"),
        (b"mode", b"browser"),
        (b"force", b"TRUE"),
        (b"callback_url", b"http://127.0.0.1:8080/hook"),
        (b"request_id", b"order-17"),
    )
    assert isinstance(parsed, StreamRequest)
    assert (parsed.priority, parsed.force, parsed.mode) == ("high", True, "browser")
    assert parsed.request.request_id == "order-17"
    assert parsed.request.callback_url == "http://127.0.0.1:8080/hook"


def test_empty_optional_fields_count_as_absent_and_the_default_callback_applies() -> None:
    parsed = _parse(
        (b"url", b"http://127.0.0.1/a"),
        (b"priority", b""),
        (b"callback_url", b""),
        (b"request_id", b""),
        default="http://127.0.0.1/default",
    )
    assert isinstance(parsed, StreamRequest)
    assert parsed.priority == "normal"
    assert parsed.request.callback_url == "http://127.0.0.1/default"
    assert parsed.request.request_id == "1700000000000-3"


@pytest.mark.parametrize(
    ("pairs", "reason"),
    [
        ((), "no url"),
        (((b"url", b""),), "no url"),
        (((b"priority", b"high"),), "no url"),
        (((b"url", b"javascript:alert(1)"),), "scheme must be http or https"),
        (((b"url", b"http://127.0.0.1/\x1b[2J"),), "control characters"),
        (((b"url", b"http://a/"), (b"url", b"http://b/")), "'url' is given more than once"),
        (((b"url", b"http://a/"), (b"callback", b"http://b/")), "unknown field 'callback'"),
        (((b"\xff", b"x"),), "field name is not UTF-8"),
        (((b"url", b"http://a/\xff"),), "'url' is not UTF-8"),
        (((b"url", b"http://a/" + b"a" * 5000),), "longer than 4096 bytes"),
        (((b"url", b"http://a/"), (b"priority", b"urgent")), "unknown priority 'urgent'"),
        (((b"url", b"http://a/"), (b"mode", b"Browser")), "unknown mode 'Browser'"),
        (((b"url", b"http://a/"), (b"mode", b"ftp")), "unknown mode 'ftp'"),
        (((b"url", b"http://a/"), (b"force", b"maybe")), "force 'maybe' is not true or false"),
        (((b"url", b"http://a/"), (b"callback_url", b"http://10.0.0.1/")), "private address"),
        (((b"url", b"http://a/"), (b"callback_url", b"http://[::1]/")), "loopback"),
        (((b"url", b"http://a/"), (b"request_id", b"two words")), "invalid request id"),
        (((b"url", b"http://a/"), (b"request_id", b"12-34")), "stream entry id"),
        (tuple((b"url", b"http://a/") for _ in range(7)), "at most 6"),
    ],
)
def test_refusals_say_why(pairs: tuple[tuple[bytes, bytes], ...], reason: str) -> None:
    parsed = _parse(*pairs)
    assert isinstance(parsed, Rejection)
    assert reason in parsed.reason


def test_stream_ids_follow_each_other() -> None:
    assert next_id("1700000000000-3") == "1700000000000-4"
    assert next_id("0-0") == "0-1"
