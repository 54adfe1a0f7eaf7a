"""Resolving once and deciding by every address, with scripted resolvers: no DNS, no sockets."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.egress_support import ScriptedResolver
from worker.egress.errors import Refusal
from worker.egress.lookup import refusal_for, resolve_once

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)


def resolve(host: str, resolver: Any, *, timeout_s: float = 5.0) -> Any:
    async def run() -> Any:
        executor = ThreadPoolExecutor(max_workers=1)
        try:
            return await resolve_once(
                host, 443, resolver=resolver, executor=executor, timeout_s=timeout_s
            )
        finally:
            # A hanging lookup keeps its thread until the test releases it.
            executor.shutdown(wait=False)

    return asyncio.run(run())


def test_an_ip_address_is_not_resolved() -> None:
    resolver = ScriptedResolver({})
    assert resolve("127.0.0.1", resolver) == (ipaddress.ip_address("127.0.0.1"),)
    assert resolve("::1", resolver) == (ipaddress.ip_address("::1"),)
    assert resolver.calls == []


def test_a_name_is_resolved_once_to_each_address_once() -> None:
    resolver = ScriptedResolver({"page.test": [["127.0.0.1", "::1", "127.0.0.1"]]})
    addresses = resolve("page.test", resolver)
    assert addresses == (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
    assert resolver.calls == [("page.test", 443)]


@pytest.mark.parametrize(
    ("answers", "detail"),
    [({}, "did not resolve"), ({"page.test": [[]]}, "resolved to no addresses")],
)
def test_a_name_without_addresses_is_a_dns_failure(answers: Any, detail: str) -> None:
    with pytest.raises(Refusal) as raised:
        resolve("page.test", ScriptedResolver(answers))
    assert (raised.value.status, raised.value.error) == (502, "dns")
    assert detail in raised.value.detail


def test_an_answer_that_is_not_an_ip_address_is_refused() -> None:
    def resolver(host: str, port: int, *, type: int) -> list[Any]:
        return [(socket.AF_UNIX, socket.SOCK_STREAM, 0, "", ("/run/docker.sock",))]

    with pytest.raises(Refusal) as raised:
        resolve("page.test", resolver)
    assert (raised.value.status, raised.value.reason) == (403, "blocked-address")


def test_a_lookup_that_hangs_is_given_up() -> None:
    release = threading.Event()

    def hanging(host: str, port: int, *, type: int) -> list[Any]:
        release.wait(10)
        return []

    try:
        with pytest.raises(Refusal) as raised:
            resolve("slow.test", hanging, timeout_s=0.1)
    finally:
        release.set()
    assert (raised.value.status, raised.value.error) == (504, "timeout")


@pytest.mark.parametrize(
    ("addresses", "blocked"),
    [
        (["127.0.0.1"], None),
        (["127.0.0.1", "127.0.0.2"], "127.0.0.2"),
        (["10.0.0.1", "127.0.0.1"], "10.0.0.1"),
        (["::ffff:127.0.0.1"], "::ffff:7f00:1"),
        (["169.254.169.254"], "169.254.169.254"),
    ],
)
def test_one_refused_address_refuses_the_name(addresses: list[str], blocked: str | None) -> None:
    refusal = refusal_for(
        "page.test",
        [ipaddress.ip_address(address) for address in addresses],
        allowed_networks=LOOPBACK,
    )
    if blocked is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert (refusal.status, refusal.reason) == (403, "blocked-address")
        assert refusal.detail.startswith(f"page.test resolves to {blocked}, which is blocked as ")
