"""Which IP addresses a fetch may connect to: the server-side request forgery blocklist.

:func:`classify` is a pure function over an :mod:`ipaddress` object. The fetch path and the
egress proxy call it on every address a resolver returned, never on the host as typed, so
``127.1``, ``2130706433`` and ``0x7f.1`` are judged by the loopback address they resolve to.

The rule: an address is allowed when the IANA registries (:mod:`fetcher.registry`, written
out as data) say it is globally reachable, and refused with its category otherwise. In IPv6
only ``2000::/3`` is allocated as global unicast; anything else that no entry makes reachable
is refused as ``reserved``.
The most specific entry that contains an address decides. :mod:`ipaddress` only parses and
compares here: its ``is_global``/``is_private`` tables differ between Python patch releases,
so they are never consulted, and the fetcher image's interpreter decides as the host's does.

IPv6 forms that carry an IPv4 address are decided through it:

- IPv4-mapped ``::ffff:0:0/96`` and the well-known NAT64 prefix ``64:ff9b::/96`` (RFC 6052)
  reach exactly the IPv4 address in their low 32 bits: they are allowed when it is.
- The local-use NAT64 prefix ``64:ff9b:1::/48`` (RFC 8215) is decided by the IPv4 it embeds
  too, but the operator's prefix length inside it (48, 56, 64 or 96 bits) fixes where that
  address sits: it is allowed only when the IPv4 read under every one of those layouts is.
- IPv4-compatible ``::/96`` (deprecated), 6to4 ``2002::/16`` and Teredo ``2001::/32`` go
  through tunnels or relays whose reach cannot be judged from here: they are refused as a
  class, and the category names the embedded address's own when that is refused too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from fetcher.registry import IPV4_BLOCKS, IPV6_BLOCKS, IPV6_GLOBAL_UNICAST, JUDGED, Block

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The category of an IPv6 address outside ``2000::/3`` that no entry makes reachable.
RESERVED = "reserved"

#: Where a local-use NAT64 address keeps its IPv4 address, per RFC 6052 prefix length inside
#: ``64:ff9b:1::/48``: (first bit, bit count) pieces, counted from the most significant bit.
#: Bits 64 to 71 never carry it.
NAT64_LOCAL_LAYOUTS: tuple[tuple[tuple[int, int], ...], ...] = (
    ((96, 32),),
    ((72, 32),),
    ((56, 8), (72, 24)),
    ((48, 16), (72, 16)),
)


def classify(address: IPAddress, *, allowed_networks: Iterable[IPNetwork] = ()) -> str | None:
    """Say why a fetch must not connect to ``address``: its category, or None if allowed.

    An address inside one of ``allowed_networks`` (same IP version) is always allowed; this is
    how tests reach loopback and how a team reaches its intranet. An embedded IPv4 address is
    judged by the registry tables only: allowing ``127.0.0.0/8`` does not allow
    ``::ffff:127.0.0.1``, which must be allowed as an IPv6 network of its own.
    """
    if any(address in network for network in allowed_networks):
        return None
    if isinstance(address, ipaddress.IPv4Address):
        return _classify_ipv4(address)
    return _classify_ipv6(address)


def parse_network(text: str) -> IPNetwork:
    """Parse one allow-list network in CIDR notation, refusing one with host bits set.

    The fetcher's ``--allow-network`` and the worker's ``FETCHER_ALLOW_NETWORKS`` both go
    through here, so a value one of them takes the other takes too. Raises ValueError with
    the message both report.
    """
    spec = text.strip()
    try:
        return ipaddress.ip_network(spec, strict=True)
    except ValueError:
        pass
    try:
        network = ipaddress.ip_network(spec, strict=False)
    except ValueError:
        raise ValueError(f"{spec!r} is not a network in CIDR notation") from None
    raise ValueError(f"{spec!r} has host bits set: the network is {network}")


def _block_of(address: IPAddress, blocks: tuple[Block, ...]) -> Block | None:
    value = int(address)
    for block in blocks:
        if block.first <= value <= block.last:
            return block
    return None


def _classify_ipv4(address: ipaddress.IPv4Address) -> str | None:
    block = _block_of(address, IPV4_BLOCKS)
    if block is None or block.globally_reachable:
        return None
    return block.category


def _classify_ipv6(address: ipaddress.IPv6Address) -> str | None:
    block = _block_of(address, IPV6_BLOCKS)
    if block is None:
        return None if int(address) in IPV6_GLOBAL_UNICAST else RESERVED
    if block.embedding:
        return _classify_embedding(address, block=block)
    if block.globally_reachable:
        return None
    return block.category


def _classify_embedding(address: ipaddress.IPv6Address, *, block: Block) -> str | None:
    for embedded in _embedded_ipv4(address, form=block.category):
        category = _classify_ipv4(embedded)
        if category is not None:
            return f"{block.category}:{category}"
    if block.embedding == JUDGED:
        return None
    return block.category


def _embedded_ipv4(address: ipaddress.IPv6Address, *, form: str) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses ``address`` carries under ``form``; each must be allowed."""
    if form == "6to4":
        sixtofour = address.sixtofour
        return [] if sixtofour is None else [sixtofour]
    if form == "teredo":
        teredo = address.teredo
        return [] if teredo is None else list(teredo)
    value = int(address)
    if form == "nat64-local":
        return [_bits(value, pieces) for pieces in NAT64_LOCAL_LAYOUTS]
    # Mapped, well-known NAT64 and IPv4-compatible forms keep the IPv4 in the low 32 bits.
    return [ipaddress.IPv4Address(value & 0xFFFFFFFF)]


def _bits(value: int, pieces: tuple[tuple[int, int], ...]) -> ipaddress.IPv4Address:
    """Join the bit ranges ``pieces`` of a 128-bit ``value`` into an IPv4 address."""
    result = 0
    for first, count in pieces:
        result = (result << count) | ((value >> (128 - first - count)) & ((1 << count) - 1))
    return ipaddress.IPv4Address(result)
