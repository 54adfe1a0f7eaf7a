"""Which IP addresses a fetch may connect to: the server-side request forgery blocklist.

:func:`classify` is a pure function over an :mod:`ipaddress` object. The fetch path calls it
on every address the resolver returned, never on the host as typed, so ``127.1``,
``2130706433`` and ``0x7f.1`` are judged by the loopback address they resolve to.

The tables below are explicit rather than leaning on ``is_private`` / ``is_global`` alone,
because those properties changed between Python patch releases; the ``is_global`` check stays
as the final catch-all for anything the tables do not name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Category for anything the tables do not name but Python does not consider globally routable.
NOT_GLOBAL = "not-global"

#: IPv4 networks that are never fetched unless explicitly allowed, with their category.
#: Broadcast comes before the reserved 240.0.0.0/4 that contains it, so it gets its own name.
IPV4_BLOCKED: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(network), category)
    for network, category in (
        ("0.0.0.0/8", "unspecified"),
        ("127.0.0.0/8", "loopback"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("169.254.0.0/16", "link-local"),
        ("100.64.0.0/10", "carrier-grade-nat"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
        ("192.0.2.0/24", "documentation"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("198.18.0.0/15", "benchmark"),
        ("192.0.0.0/24", "ietf-protocol"),
        ("192.88.99.0/24", "6to4-relay"),
    )
)

#: IPv6 networks that are never fetched unless explicitly allowed, with their category.
#: The IPv4-embedding prefixes are in :data:`IPV6_EMBEDDING` instead; ``::`` and ``::1`` sit
#: inside ``::/96`` and are listed here so they are named for what they are.
IPV6_BLOCKED: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(network), category)
    for network, category in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("2001:2::/48", "benchmark"),
        ("100::/64", "discard-only"),
        ("::ffff:0:0:0/96", "ipv4-translated"),
    )
)

#: IPv6 forms that carry an IPv4 address, and whether a connection to one really reaches that
#: IPv4 host. Mapped and well-known-prefix NAT64 addresses do, so they are judged by the
#: embedded address alone. The others go through tunnels or relays (or an operator-chosen
#: layout) whose reach cannot be judged from here, so they are blocked as a class; their
#: embedded address is still checked so a message can say what it pointed at.
IPV6_EMBEDDING: tuple[tuple[ipaddress.IPv6Network, str, bool], ...] = tuple(
    (ipaddress.IPv6Network(network), form, judged_by_embedded)
    for network, form, judged_by_embedded in (
        ("::ffff:0:0/96", "ipv4-mapped", True),
        ("64:ff9b::/96", "nat64", True),
        ("64:ff9b:1::/48", "nat64-local", False),
        ("::/96", "ipv4-compatible", False),
        ("2002::/16", "6to4", False),
        ("2001::/32", "teredo", False),
    )
)


def classify(address: IPAddress, *, allowed_networks: Iterable[IPNetwork] = ()) -> str | None:
    """Say why a fetch must not connect to ``address``: its blocked category, or None if allowed.

    An address inside one of ``allowed_networks`` (same IP version) is always allowed; this is
    how tests reach loopback and how a team reaches its intranet. An embedded IPv4 address is
    judged by the built-in tables only: allowing ``127.0.0.0/8`` does not allow
    ``::ffff:127.0.0.1``, which must be allowed as an IPv6 network of its own.
    """
    if any(address in network for network in allowed_networks):
        return None
    if isinstance(address, ipaddress.IPv4Address):
        return _classify_ipv4(address)
    return _classify_ipv6(address)


def _classify_ipv4(address: ipaddress.IPv4Address) -> str | None:
    for network, category in IPV4_BLOCKED:
        if address in network:
            return category
    if not address.is_global:
        return NOT_GLOBAL
    return None


def _classify_ipv6(address: ipaddress.IPv6Address) -> str | None:
    for network, category in IPV6_BLOCKED:
        if address in network:
            return category
    for network, form, judged_by_embedded in IPV6_EMBEDDING:
        if address in network:
            return _classify_embedding(address, form=form, judged_by_embedded=judged_by_embedded)
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return NOT_GLOBAL
    return None


def _classify_embedding(
    address: ipaddress.IPv6Address, *, form: str, judged_by_embedded: bool
) -> str | None:
    for embedded in _embedded_ipv4(address, form=form):
        category = _classify_ipv4(embedded)
        if category is not None:
            return f"{form}:{category}"
    if judged_by_embedded:
        return None
    return form


def _embedded_ipv4(address: ipaddress.IPv6Address, *, form: str) -> list[ipaddress.IPv4Address]:
    """Return the IPv4 addresses ``address`` carries under ``form``, where the layout is fixed."""
    if form == "6to4":
        sixtofour = address.sixtofour
        return [] if sixtofour is None else [sixtofour]
    if form == "teredo":
        teredo = address.teredo
        return [] if teredo is None else list(teredo)
    if form == "nat64-local":
        # The embedding position depends on the operator's prefix length; nothing to judge.
        return []
    # Mapped, well-known NAT64 and IPv4-compatible forms all keep the IPv4 in the low 32 bits.
    return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
