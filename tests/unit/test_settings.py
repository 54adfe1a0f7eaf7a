from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from fetcher.options import PROG, parse_invocation
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
    ],
)
def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)


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
