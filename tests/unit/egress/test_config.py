"""The proxy's configuration refuses what it could not run with, at construction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from worker.egress.config import MAX_SOCKET_PATH, EgressConfig
from worker.errors import ConfigurationError


def test_defaults_lay_the_sockets_out_under_the_directory() -> None:
    config = EgressConfig(directory=Path("/run/scanbox-egress"))
    assert config.control_socket == Path("/run/scanbox-egress/control.sock")
    assert config.session_socket(session_id="0" * 16) == Path(
        "/run/scanbox-egress/s/0000000000000000/egress.sock"
    )
    assert config.allowed_ports.allows(443)
    assert not config.allowed_ports.allows(22)


@pytest.mark.parametrize(
    "change",
    [
        {"directory": Path("relative")},
        {"directory": Path("/" + "d" * (MAX_SOCKET_PATH - 30))},
        {"max_sessions": 0},
        {"session_max_bytes": 0},
        {"max_header_bytes": -1},
        {"session_ttl_s": 0},
        {"header_timeout_s": float("inf")},
        {"connect_timeout_s": float("nan")},
        {"session_ttl_s": 100.0, "max_session_ttl_s": 10.0},
    ],
)
def test_unusable_settings_are_refused(change: dict[str, Any]) -> None:
    settings: dict[str, Any] = {"directory": Path("/run/scanbox-egress")} | change
    with pytest.raises(ConfigurationError):
        EgressConfig(**settings)
