"""Fixtures for fetcher tests: loopback servers and listeners that are always closed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.unit.fetcher.servers import Handler, ScriptedServer, SilentListener


@pytest.fixture
def make_server() -> Iterator[Callable[..., ScriptedServer]]:
    """Start scripted servers on demand; all are shut down after the test."""
    started: list[ScriptedServer] = []

    def start(handler: Handler, **kwargs: Any) -> ScriptedServer:
        server = ScriptedServer(handler, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def make_listener() -> Iterator[Callable[..., SilentListener]]:
    """Open silent listeners on demand; all are closed after the test."""
    opened: list[SilentListener] = []

    def open_listener(**kwargs: Any) -> SilentListener:
        listener = SilentListener(**kwargs)
        opened.append(listener)
        return listener

    yield open_listener
    for listener in opened:
        listener.close()


@pytest.fixture(scope="session")
def test_ca() -> trustme.CA:
    """A throw-away certificate authority for HTTPS tests."""
    return trustme.CA()


@pytest.fixture
def ca_file(test_ca: trustme.CA, tmp_path: Path) -> str:
    """The test CA's certificate as a PEM file, for ``--ca-file``."""
    path = tmp_path / "test-ca.pem"
    test_ca.cert_pem.write_to_path(str(path))
    return str(path)
