from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from fetcher.options import PROG, parse_invocation
from worker.app.sandbox import sandbox_weakenings
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_in_env_example_with_its_default() -> None:
    text = (ROOT / ".env.example").read_text()
    values = dict(re.findall(r"^([A-Z_]+)=(.*)$", text, re.MULTILINE))
    assert set(values) == {name.upper() for name in Settings.model_fields}
    defaults = Settings(_env_file=None)
    for name, value in values.items():
        default = getattr(defaults, name.lower())
        if default is None or default == ():
            assert value == "", name
        elif isinstance(default, bool):
            assert value == str(default).lower(), name
        elif not hasattr(default, "get_secret_value"):
            assert value == str(default), name


def test_defaults_follow_the_published_interface() -> None:
    settings = Settings(_env_file=None)
    assert settings.turso_connection_url == "file:./scanbox.db"
    assert settings.worker_concurrency == 5
    assert settings.container_timeout_ms == 30000
    assert settings.container_memory_limit_mb == 512
    assert settings.container_cpu_limit == 0.5
    assert settings.effective_redis_url == "redis://127.0.0.1:6379/0"


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_HOST", "redis.internal")
    monkeypatch.setenv("REDIS_PASSWORD", "p@ss word")
    monkeypatch.setenv("FETCHER_ALLOW_NETWORKS", "127.0.0.0/8, 10.1.0.0/16")
    monkeypatch.setenv("TURSO_AUTH_TOKEN", "")
    settings = Settings(_env_file=None)
    assert settings.effective_redis_url == "redis://:p%40ss%20word@redis.internal:6379/0"
    assert settings.fetcher_allow_networks == ("127.0.0.0/8", "10.1.0.0/16")
    assert settings.turso_auth_token is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WORKER_CONCURRENCY", "0"),
        ("CONTAINER_CPU_LIMIT", "-1"),
        ("FETCHER_ALLOW_NETWORKS", "not-a-network"),
        ("FETCHER_ALLOWED_PORTS", "80,70000"),
        ("LOG_FORMAT", "xml"),
        ("REDIS_URL", "garbage"),
        ("REDIS_URL", "redis://127.0.0.1:6379/abc"),
        ("REDIS_URL", "redis://127.0.0.1:99999/0"),
        ("REDIS_URL", "http://127.0.0.1:6379/0"),
        ("REDIS_URL", "redis:///0"),
        ("HOST_RATE_LIMIT", "inf"),
        ("HOST_RATE_LIMIT", "nan"),
        ("CONTAINER_CPU_LIMIT", "nan"),
        ("HOST_RATE_OVERRIDES", "example.org=inf"),
    ],
)
def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:p%40ss@redis.internal/3",
        "rediss://:secret@127.0.0.1:6380/0?ssl_ca_certs=/etc/scanbox/ca.pem",
        "unix:///run/redis/redis.sock?db=2",
    ],
)
def test_redis_urls_a_client_can_use_are_accepted(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    assert Settings(_env_file=None).effective_redis_url == url


def test_a_bad_redis_url_is_refused_without_quoting_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@127.0.0.1:6379/x")
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None)
    message = raised.value.errors(include_url=False, include_input=False)[0]["msg"]
    assert "not a number" in message
    assert "hunter2" not in message


def test_the_defaults_weaken_nothing_but_the_runtime() -> None:
    assert sandbox_weakenings(Settings(_env_file=None)) == [
        "no runtime isolation (CONTAINER_RUNTIME=runsc runs fetchers under gVisor)"
    ]
    assert sandbox_weakenings(Settings(_env_file=None, container_runtime="runsc")) == []


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("CONTAINER_USER", "0", "as root"),
        ("CONTAINER_USER", "root:root", "as root"),
        ("FETCHER_NETWORK", "host", "FETCHER_NETWORK=host"),
        ("FETCHER_ALLOW_NETWORKS", "10.0.0.0/8,0.0.0.0/0", "every address"),
        ("FETCHER_ALLOW_NETWORKS", "::/0", "every address"),
    ],
)
def test_settings_that_weaken_the_sandbox_are_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, said: str
) -> None:
    monkeypatch.setenv("CONTAINER_RUNTIME", "runsc")
    monkeypatch.setenv(name, value)
    [weakening] = sandbox_weakenings(Settings(_env_file=None))
    assert said in weakening


def test_gvisor_needs_room_for_its_own_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTAINER_RUNTIME", "runsc")
    monkeypatch.setenv("CONTAINER_PIDS_LIMIT", "32")
    with pytest.raises(ValidationError, match="gVisor"):
        Settings(_env_file=None)
    monkeypatch.setenv("CONTAINER_PIDS_LIMIT", "64")
    assert Settings(_env_file=None).container_pids_limit == 64


@pytest.mark.parametrize(
    ("name", "value", "option", "message"),
    [
        (
            "FETCHER_ALLOW_NETWORKS",
            "127.0.0.1/8",
            "--allow-network",
            "'127.0.0.1/8' has host bits set: the network is 127.0.0.0/8",
        ),
        (
            "FETCHER_ALLOW_NETWORKS",
            "10.0.0.0/33",
            "--allow-network",
            "'10.0.0.0/33' is not a network in CIDR notation",
        ),
        (
            "FETCHER_ALLOWED_PORTS",
            "443-80",
            "--allowed-ports",
            "port range '443-80' runs backwards",
        ),
        (
            "FETCHER_ALLOWED_PORTS",
            "80,70000",
            "--allowed-ports",
            "'70000' is not a port or port range between 1 and 65535",
        ),
    ],
)
def test_the_worker_refuses_what_the_fetcher_refuses_with_the_same_message(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    option: str,
    message: str,
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)
    assert message in str(refused.value)

    with pytest.raises(SystemExit) as exited:
        parse_invocation(["http://a.test/", option, value])
    assert exited.value.code == 2
    assert capsys.readouterr().err == f"{PROG}: error: argument {option}: {message}\n"
