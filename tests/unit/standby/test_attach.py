"""Reading Docker's multiplexed attach stream: stdout capped, stderr's tail, the first line."""

from __future__ import annotations

import socket
import time

import pytest

from tests.unit.standby.fakes import frame
from worker.containers.attach import STDERR, STDERR_TAIL_CHARS, STDOUT, FrameReader, read_output
from worker.errors import ContainerTimedOut, OutputTooLarge, WorkerShuttingDown


def test_frames_split_anywhere_are_put_together() -> None:
    data = frame(STDOUT, b'{"a":') + frame(STDERR, b"warning\n") + frame(STDOUT, b"1}\n")
    reader = FrameReader(stdout_limit=1024)
    for index in range(len(data)):
        reader.feed(data[index : index + 1])
    assert reader.stdout == b'{"a":1}\n'
    assert reader.stderr_tail == "warning\n"
    assert reader.has_line


def test_no_line_until_the_newline() -> None:
    reader = FrameReader(stdout_limit=1024)
    reader.feed(frame(STDOUT, b'{"partial":'))
    assert not reader.has_line


def test_stdout_past_the_cap_is_refused_before_it_is_read() -> None:
    reader = FrameReader(stdout_limit=10)
    reader.feed(frame(STDOUT, b"12345"))
    with pytest.raises(OutputTooLarge) as raised:
        reader.feed(frame(STDOUT, b"678901")[:8])  # the header alone says it is too much
    assert raised.value.limit_bytes == 10


def test_only_the_tail_of_stderr_is_kept() -> None:
    reader = FrameReader(stdout_limit=10)
    reader.feed(frame(STDERR, b"x" * STDERR_TAIL_CHARS) + frame(STDERR, b"the end"))
    assert len(reader.stderr_tail) == STDERR_TAIL_CHARS
    assert reader.stderr_tail.endswith("the end")


def _never() -> None:
    return None


def test_reading_stops_at_the_report_line_without_waiting_for_the_end() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(frame(STDOUT, b"{}\n"))
        reader = FrameReader(stdout_limit=1024)
        read_output(
            ours, reader, deadline=time.monotonic() + 5, timeout_ms=5000, interruption=_never
        )
        assert reader.stdout == b"{}\n"


def test_reading_stops_when_the_output_ends() -> None:
    ours, theirs = socket.socketpair()
    with ours:
        theirs.sendall(frame(STDERR, b"crashed"))
        theirs.close()
        reader = FrameReader(stdout_limit=1024)
        read_output(
            ours, reader, deadline=time.monotonic() + 5, timeout_ms=5000, interruption=_never
        )
        assert (reader.stdout, reader.stderr_tail) == (b"", "crashed")


def test_silence_past_the_deadline_is_a_timeout() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        with pytest.raises(ContainerTimedOut) as raised:
            read_output(
                ours,
                FrameReader(stdout_limit=1024),
                deadline=time.monotonic() + 0.05,
                timeout_ms=50,
                interruption=_never,
            )
        assert raised.value.timeout_ms == 50


def test_an_interruption_stops_the_read() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs, pytest.raises(WorkerShuttingDown):
        read_output(
            ours,
            FrameReader(stdout_limit=1024),
            deadline=time.monotonic() + 5,
            timeout_ms=5000,
            interruption=lambda: WorkerShuttingDown("stopping"),
        )
