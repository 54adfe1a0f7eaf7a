"""A container's egress session: opened for it, mounted alone, closed on every path."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.app.egress import egress_config, proxy_environment
from worker.app.sandbox import sandbox_weakenings
from worker.containers.egress import MOUNT, Connections, OpenSession, with_proxy
from worker.containers.runner import ContainerRun, in_session
from worker.errors import ContainerCrashed, EgressUnreachable
from worker.settings import Settings

SESSION = OpenSession(id="ab" * 8, directory=Path("/tmp/e/s/abab"), socket_name="egress.sock")
RECORD: Connections = ({"host": "a.test", "decision": "allowed"},)


class Sessions:
    """``EgressSessions`` that remembers what it was asked."""

    def __init__(self, *, close_fails: bool = False) -> None:
        self.opened: list[tuple[str, int]] = []
        self.closed: list[str] = []
        self.close_fails = close_fails

    def open(self, *, label: str, ttl_ms: int) -> OpenSession:
        self.opened.append((label, ttl_ms))
        return SESSION

    def close(self, session: OpenSession) -> Connections:
        self.closed.append(session.id)
        if self.close_fails:
            raise EgressUnreachable("the proxy went away")
        return RECORD


def test_the_session_is_the_only_mount_and_its_socket_the_fetchers_proxy() -> None:
    assert SESSION.volumes == {"/tmp/e/s/abab": {"bind": MOUNT, "mode": "ro"}}
    assert with_proxy(["--timeout-ms", "5", "--", "http://a.test/"], SESSION) == [
        "--proxy-socket",
        f"{MOUNT}/egress.sock",
        "--timeout-ms",
        "5",
        "--",
        "http://a.test/",
    ]


def test_a_run_carries_its_sessions_record_and_the_session_is_closed() -> None:
    sessions = Sessions()
    run = in_session(
        sessions,
        label="scanbox-x-1",
        ttl_ms=1000,
        run=lambda session: ContainerRun(container_id=session.id, stdout=b"{}", duration_ms=1),
    )
    assert run.egress == RECORD
    assert sessions.opened == [("scanbox-x-1", 1000)]
    assert sessions.closed == [SESSION.id]


def test_a_failed_run_still_closes_its_session_and_keeps_its_own_error() -> None:
    sessions = Sessions(close_fails=True)

    def crash(_session: OpenSession) -> ContainerRun:
        raise ContainerCrashed(exit_code=1, oom_killed=False, stderr_tail="")

    with pytest.raises(ContainerCrashed):
        in_session(sessions, label="x", ttl_ms=1, run=crash)
    assert sessions.closed == [SESSION.id]


def test_fetchers_with_a_network_of_their_own_are_a_weakening_and_egress_is_not() -> None:
    assert not any("FETCHER_NETWORK" in w for w in sandbox_weakenings(Settings(_env_file=None)))
    weakened = sandbox_weakenings(Settings(_env_file=None, fetcher_network="bridge"))
    assert any("FETCHER_NETWORK=bridge" in w for w in weakened)


def test_an_egress_directory_whose_sockets_would_not_fit_is_refused() -> None:
    with pytest.raises(ValueError, match="EGRESS_DIR"):
        Settings(_env_file=None, egress_dir="/" + "d" * 80)
    with pytest.raises(ValueError, match="EGRESS_DIR"):
        Settings(_env_file=None, egress_dir="relative/dir")


def test_a_proxy_started_for_settings_built_in_code_is_given_those_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EGRESS_DIR", "/tmp/from-the-environment")
    monkeypatch.setenv("FETCHER_ALLOWED_PORTS", "443")
    settings = Settings(
        _env_file=None,
        egress_dir="/tmp/sbx-bench-1/egress",
        fetcher_allow_networks=("127.0.0.0/8", "::1/128"),
        fetcher_allowed_ports="any",
        egress_session_connections=7,
        egress_session_bytes=4096,
    )
    environment = proxy_environment(settings)
    assert environment["EGRESS_DIR"] == "/tmp/sbx-bench-1/egress"
    assert environment["FETCHER_ALLOWED_PORTS"] == "any"
    # Read back the way the started proxy reads it, the same configuration.
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert egress_config(Settings(_env_file=None)) == egress_config(settings)


def test_a_quiet_proxy_logs_warnings_only() -> None:
    settings = Settings(_env_file=None, log_level="debug")
    assert proxy_environment(settings)["LOG_LEVEL"] == "debug"
    assert proxy_environment(settings, quiet=True)["LOG_LEVEL"] == "warning"
