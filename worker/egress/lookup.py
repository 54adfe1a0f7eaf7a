"""Resolving a target once and deciding by every address it yields, before anything connects.

The proxy connects only to addresses returned here, for the request they were resolved for:
a name is never resolved again behind the check's back (DNS rebinding), and a name with even
one refused address is refused whole. An IP address is not resolved at all. The decision is
the fetcher's own (:func:`fetcher.addresses.classify` with the same allow-list), and so is
the message a refusal carries.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from typing import Any

from fetcher.addresses import IPAddress, IPNetwork, classify
from fetcher.resolution import AddressInfo, Resolver
from worker.egress.errors import Refusal


async def resolve_once(
    host: str,
    port: int,
    *,
    resolver: Resolver,
    executor: Executor,
    timeout_s: float,
) -> tuple[IPAddress, ...]:
    """Every address ``host`` resolves to, in the resolver's order, each once.

    A lookup runs on ``executor`` (``getaddrinfo`` blocks) and is given up after
    ``timeout_s``. Raises :class:`Refusal`: 502 ``dns`` when nothing usable comes back,
    504 ``timeout`` for a lookup that took too long, 403 for an answer that is not an IP
    address.
    """
    try:
        return (ipaddress.ip_address(host),)
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    lookup = loop.run_in_executor(executor, _lookup, resolver, host, port)
    try:
        infos = await asyncio.wait_for(lookup, timeout_s)
    except TimeoutError:
        raise Refusal(
            status=504, reason="dns", error="timeout", detail=f"resolving {host} took too long"
        ) from None
    except (OSError, UnicodeError) as failure:
        reason = getattr(failure, "strerror", None) or str(failure)
        raise Refusal(
            status=502, reason="dns", error="dns", detail=f"{host} did not resolve: {reason}"
        ) from None
    addresses = _addresses(host, infos)
    if not addresses:
        raise Refusal(
            status=502, reason="dns", error="dns", detail=f"{host} resolved to no addresses"
        )
    return addresses


def refusal_for(
    host: str, addresses: Iterable[IPAddress], *, allowed_networks: Sequence[IPNetwork]
) -> Refusal | None:
    """The refusal of ``host`` if any of ``addresses`` is not allowed, else None."""
    for address in addresses:
        category = classify(address, allowed_networks=allowed_networks)
        if category is not None:
            return Refusal(
                status=403,
                reason="blocked-address",
                detail=f"{host} resolves to {address}, which is blocked as {category}",
            )
    return None


def _lookup(resolver: Resolver, host: str, port: int) -> Sequence[AddressInfo]:
    return resolver(host, port, type=socket.SOCK_STREAM)


def _addresses(host: str, infos: Sequence[AddressInfo]) -> tuple[IPAddress, ...]:
    found: list[IPAddress] = []
    for family, _type, _proto, _canonical, sockaddr in infos:
        address = _address_of(family, sockaddr)
        if address is None:
            raise Refusal(
                status=403,
                reason="blocked-address",
                detail=f"{host} resolved to {sockaddr!r:.100}, which is not an IP address",
            )
        if address not in found:
            found.append(address)
    return tuple(found)


def _address_of(family: int, sockaddr: tuple[Any, ...]) -> IPAddress | None:
    if family not in (socket.AF_INET, socket.AF_INET6) or not sockaddr:
        return None
    try:
        address = ipaddress.ip_address(sockaddr[0])
    except (TypeError, ValueError):
        return None
    expected = 4 if family == socket.AF_INET else 6
    return address if address.version == expected else None
