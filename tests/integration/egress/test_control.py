"""The control socket and the proxy's life: sessions, permissions, hostile control clients,
and ``run_egress`` as a process of its own until SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.egress_support import egress_directory, running_egress
from tests.integration.egress.conftest import ANSWER_TIMEOUT_S, MakeEgress, open_client
from tests.services import poll
from worker.egress.client import EgressClient
from worker.egress.config import EgressConfig
from worker.egress.errors import EgressError, EgressRefused, EgressUnavailable

ROOT = Path(__file__).resolve().parents[3]


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def control_exchange(path: Path, data: bytes) -> list[dict[str, object]]:
    """Send raw ``data`` to the control socket and read reply lines until it hangs up."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(ANSWER_TIMEOUT_S)
        sock.connect(str(path))
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
            if received.count(b"\n") >= data.count(b"\n"):
                break
    return [json.loads(line) for line in received.splitlines()]


def test_sessions_get_private_parents_and_sockets_a_container_user_can_reach(
    make_egress: MakeEgress,
) -> None:
    egress = make_egress()
    session = egress.client.open_session(label="modes")
    directory = egress.config.directory

    assert mode(directory) == 0o700
    assert mode(egress.config.sessions_directory) == 0o700
    assert mode(egress.config.control_socket) == 0o600
    assert stat.S_ISSOCK(os.lstat(egress.config.control_socket).st_mode)
    assert session.directory.parent == egress.config.sessions_directory
    assert mode(session.directory) == 0o755
    assert mode(session.socket_path) == 0o666
    assert stat.S_ISSOCK(os.lstat(session.socket_path).st_mode)
    assert os.listdir(session.directory) == [session.socket_path.name]

    record = egress.client.close_session(session.id)

    assert record.session_id == session.id
    assert record.connections == ()
    assert not session.directory.exists()


def test_sessions_are_bounded_and_known_by_id(make_egress: MakeEgress) -> None:
    egress = make_egress(max_sessions=2)
    first = egress.client.open_session(label="one")
    second = egress.client.open_session(label="two")

    with pytest.raises(EgressRefused) as refused:
        egress.client.open_session(label="three")
    assert refused.value.code == "session-limit"
    assert first.id != second.id
    assert egress.client.ping().sessions == 2

    egress.client.close_session(first.id)
    with pytest.raises(EgressRefused) as unknown:
        egress.client.close_session(first.id)
    assert unknown.value.code == "unknown-session"
    third = egress.client.open_session(label="three")
    for session in (second, third):
        egress.client.close_session(session.id)
    assert egress.client.ping().sessions == 0


@pytest.mark.parametrize(
    "line",
    [
        b"garbage\n",
        b'{"op": "ping", "op": "close"}\n',
        b'{"op": "open", "label": "a", "ttl_ms": NaN}\n',
        b'{"op": "open", "label": "../../etc", "ttl_ms": null}\n',
        b'{"op": "close", "session": "../../../../tmp"}\n',
        b'{"op": "exec", "argv": ["id"]}\n',
        b"\xff\xfe\n",
        b"[" * 50_000 + b"\n",
    ],
)
def test_a_hostile_control_line_gets_an_error_and_changes_nothing(
    make_egress: MakeEgress, line: bytes
) -> None:
    egress = make_egress()

    (reply,) = control_exchange(egress.config.control_socket, line)

    assert reply["ok"] is False
    assert reply["error"] == "bad-request"
    assert egress.client.ping().sessions == 0
    assert os.listdir(egress.config.sessions_directory) == []


def test_a_control_line_past_the_limit_is_refused_and_hung_up_on(
    make_egress: MakeEgress,
) -> None:
    egress = make_egress(max_control_line_bytes=1024)

    (reply,) = control_exchange(egress.config.control_socket, b'{"op": "' + b"p" * 4096 + b"\n")

    assert reply == {"ok": False, "error": "bad-request", "message": "the request line is too long"}
    assert egress.client.ping().protocol == 1


def test_a_silent_control_client_is_hung_up_on_without_stalling_others(
    make_egress: MakeEgress,
) -> None:
    egress = make_egress(control_timeout_s=0.3)
    with open_client(str(egress.config.control_socket)) as silent:
        assert egress.client.ping().sessions == 0
        assert silent.recv(1) == b""


def test_a_second_proxy_on_the_same_directory_is_refused_and_a_stale_socket_is_replaced() -> None:
    with egress_directory() as directory:
        config = EgressConfig(directory=directory)
        with (
            running_egress(config),
            pytest.raises(EgressError, match="already answers"),
            running_egress(config),
        ):
            pass
        # The first proxy is gone; leave a socket file nobody listens on, as a crash would.
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(str(config.control_socket))
        stale.close()
        (config.sessions_directory / "0123456789abcdef").mkdir()
        with running_egress(config) as egress:
            assert egress.client.ping().sessions == 0
            assert os.listdir(config.sessions_directory) == []


def test_an_egress_directory_that_is_a_symlink_is_refused() -> None:
    with egress_directory() as directory:
        elsewhere = directory.parent / "elsewhere"
        elsewhere.mkdir()
        directory.symlink_to(elsewhere)
        with (
            pytest.raises(EgressError, match="not a directory owned by this user"),
            running_egress(EgressConfig(directory=directory)),
        ):
            pass
        assert os.listdir(elsewhere) == []


def test_the_client_says_when_no_proxy_answers() -> None:
    with egress_directory() as directory:
        client = EgressClient(control_socket=directory / "control.sock", timeout_s=1.0)
        with pytest.raises(EgressUnavailable, match="cannot be reached"):
            client.ping()


def test_run_egress_serves_until_sigterm_and_cleans_up() -> None:
    program = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from worker.egress.config import EgressConfig
        from worker.egress.run import run_egress
        run_egress(EgressConfig(directory=Path(sys.argv[1])))
        """
    )
    with egress_directory() as directory:
        process = subprocess.Popen(
            [sys.executable, "-c", program, str(directory)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            client = EgressClient(control_socket=directory / "control.sock", timeout_s=2.0)
            poll(
                lambda: _answers(client),
                timeout_s=ANSWER_TIMEOUT_S,
                what="the egress process to answer",
            )
            session = client.open_session(label="process")
            assert session.socket_path.exists()
            process.send_signal(signal.SIGTERM)
            status = process.wait(timeout=ANSWER_TIMEOUT_S)
        finally:
            if process.poll() is None:
                process.kill()
            out, err = process.communicate(timeout=ANSWER_TIMEOUT_S)
        assert status == 0, err.decode(errors="replace")
        assert not (directory / "control.sock").exists()
        assert not session.directory.exists()
        assert b"egress.session_closed" in out + err


def _answers(client: EgressClient) -> bool | None:
    try:
        client.ping()
    except EgressUnavailable:
        return None
    return True
