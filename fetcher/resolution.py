"""Resolving a host once and checking every address it yields, before anything connects.

The addresses returned here are the only ones the fetch connects to for that hop: the name is
never resolved again behind the check's back (DNS rebinding), and a name with even one blocked
address is refused whole, since which address a later lookup would favour is not ours to know.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, Protocol

from fetcher.addresses import IPAddress, IPNetwork, classify
from fetcher.deadline import Deadline
from fetcher.errors import Blocked, DnsFailed, TimedOut
from fetcher.ports import PortPolicy
from fetcher.urls import Target, parse_target

#: What a resolver returns per address: family, type, protocol, canonical name, socket address.
AddressInfo = tuple[int, int, int, str, tuple[Any, ...]]


class Resolver(Protocol):
    """The :func:`socket.getaddrinfo` interface, so tests can inject a fake one."""

    def __call__(self, host: str, port: int, *, type: int) -> Sequence[AddressInfo]: ...


def system_resolver(host: str, port: int, *, type: int) -> Sequence[AddressInfo]:
    """:func:`socket.getaddrinfo` for a host already IDNA-encoded, passed as bytes.

    Given a str, getaddrinfo runs the host through the idna codec again, and loading that
    codec costs more than looking up an IP address.
    """
    return socket.getaddrinfo(host.encode("ascii"), port, type=type)


def numeric_resolver(host: str, port: int, *, type: int) -> Sequence[AddressInfo]:
    """:func:`socket.getaddrinfo` for IP addresses only: a name is refused, never looked up."""
    return socket.getaddrinfo(host.encode("ascii"), port, type=type, flags=socket.AI_NUMERICHOST)


class PinnedAddress(NamedTuple):
    """A checked address and the exact socket address to connect to for it."""

    family: int
    address: IPAddress
    sockaddr: tuple[Any, ...]


class Hop(NamedTuple):
    """A URL that passed every check, with the addresses its connection is pinned to."""

    target: Target
    #: Empty through the egress proxy for a name: the proxy resolves and checks it.
    addresses: tuple[PinnedAddress, ...]


def check_hop(
    url: str,
    *,
    allowed_ports: PortPolicy,
    allowed_networks: Iterable[IPNetwork],
    resolver: Resolver,
    through_proxy: bool,
    deadline: Deadline,
) -> Hop:
    """Check ``url`` and resolve its host once; raises BadUrl, Blocked, DnsFailed, TimedOut.

    ``through_proxy``: only an IP address is checked here, without a lookup.
    """
    target = parse_target(url, allowed_ports=allowed_ports)
    if through_proxy and not is_ip_address(target.host):
        return Hop(target=target, addresses=())
    addresses = resolve_checked(
        target,
        resolver=numeric_resolver if through_proxy else resolver,
        allowed_networks=allowed_networks,
        deadline=deadline,
    )
    return Hop(target=target, addresses=addresses)


def resolve_checked(
    target: Target,
    *,
    resolver: Resolver,
    allowed_networks: Iterable[IPNetwork],
    deadline: Deadline,
) -> tuple[PinnedAddress, ...]:
    """Resolve ``target.host`` once and return its addresses if every one of them is allowed.

    Raises DnsFailed when nothing usable comes back, Blocked naming the first blocked address
    and its category, TimedOut when resolution outlives the total deadline.
    """
    infos = _resolve_within(target, resolver=resolver, deadline=deadline)
    networks = tuple(allowed_networks)
    pinned: list[PinnedAddress] = []
    for family, _type, _proto, _canonical, sockaddr in infos:
        address = _address_of(family, sockaddr)
        if address is None:
            raise Blocked(
                f"{target.host} resolved to {sockaddr!r}, which is not an IP address",
                url=target.url,
            )
        category = classify(address, allowed_networks=networks)
        if category is not None:
            raise Blocked(
                f"{target.host} resolves to {address}, which is blocked as {category}",
                url=target.url,
            )
        candidate = PinnedAddress(
            family=family, address=address, sockaddr=_with_port(sockaddr, target.port)
        )
        if candidate not in pinned:
            pinned.append(candidate)
    if not pinned:
        raise DnsFailed(f"{target.host} resolved to no addresses", url=target.url)
    return tuple(pinned)


def _resolve_within(
    target: Target, *, resolver: Resolver, deadline: Deadline
) -> Sequence[AddressInfo]:
    """Call the resolver on a helper thread so a stuck lookup cannot outlive the deadline.

    getaddrinfo has no timeout of its own; a thread left blocked in it dies with the process.
    An IP address needs no lookup, so it is resolved on this thread (and the fetch of an IP
    URL never loads :mod:`threading`).
    """
    if is_ip_address(target.host):
        result = _lookup(target, resolver)
    else:
        import threading  # noqa: PLC0415 (module doc: only a name needs the helper thread)

        outcome: list[Sequence[AddressInfo] | OSError | UnicodeError] = []
        finished = threading.Event()

        def resolve() -> None:
            try:
                outcome.append(_lookup(target, resolver))
            finally:
                finished.set()

        threading.Thread(target=resolve, name="fetcher-resolve", daemon=True).start()
        if not finished.wait(deadline.remaining()) or not outcome:
            raise TimedOut(f"resolving {target.host} outlived the total deadline", url=target.url)
        result = outcome[0]
    if isinstance(result, OSError | UnicodeError):
        reason = getattr(result, "strerror", None) or str(result)
        raise DnsFailed(f"{target.host} did not resolve: {reason}", url=target.url)
    return result


def _lookup(target: Target, resolver: Resolver) -> Sequence[AddressInfo] | OSError | UnicodeError:
    try:
        return resolver(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        return error


def is_ip_address(host: str) -> bool:
    """Whether ``host`` is an IP address as :mod:`ipaddress` writes one (no lookup needed)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _address_of(family: int, sockaddr: tuple[Any, ...]) -> IPAddress | None:
    if family not in (socket.AF_INET, socket.AF_INET6) or not sockaddr:
        return None
    try:
        address = ipaddress.ip_address(sockaddr[0])
    except (TypeError, ValueError):
        return None
    expected = 4 if family == socket.AF_INET else 6
    return address if address.version == expected else None


def _with_port(sockaddr: tuple[Any, ...], port: int) -> tuple[Any, ...]:
    """Return ``sockaddr`` aimed at the URL's port, whatever port the resolver echoed back."""
    return (sockaddr[0], port, *sockaddr[2:])
