"""Which IP addresses a fetch may connect to: the server-side request forgery blocklist.

:func:`classify` is a pure function over an :mod:`ipaddress` object. The fetch path and the
egress proxy call it on every address a resolver returned, never on the host as typed, so
``127.1``, ``2130706433`` and ``0x7f.1`` are judged by the loopback address they resolve to.

The rule: an address is allowed when the IANA registries say it is globally reachable, and
refused with its category otherwise. The tables below are those registries written out:
the IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890) as they read on 2025-10-09,
with each entry's "Globally Reachable" value as IANA gives it (None where IANA says N/A),
plus the blocks the IPv4 and IPv6 Address Space Registries set apart: IPv4 multicast, IPv6
multicast and the deprecated site-local block. In IPv6 only ``2000::/3`` is allocated as
global unicast; anything else that no entry makes reachable is refused as ``reserved``.
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
import socket
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The date the special-purpose tables were taken from the IANA registries.
REGISTRY_DATE = "2025-10-09"
#: The category of an IPv6 address outside ``2000::/3`` that no entry makes reachable.
RESERVED = "reserved"
#: How an entry's IPv6 addresses are decided when they carry an IPv4 address:
#: ``JUDGED`` by the embedded address alone, ``NAMED`` refused as the entry's category.
JUDGED = "judged"
NAMED = "named"


class Block:
    """One registry entry: a network, IANA's name and reachability, and the refusal's name.

    A plain class with slots: a NamedTuple of this many fields costs the fetcher's start-up
    more to define than the whole table costs to build.
    """

    __slots__ = (
        "category",
        "cidr",
        "embedding",
        "first",
        "globally_reachable",
        "last",
        "name",
        "prefixlen",
    )

    def __init__(
        self,
        *,
        cidr: str,
        name: str,
        globally_reachable: bool | None,
        category: str,
        embedding: str,
        prefixlen: int,
        first: int,
        last: int,
    ) -> None:
        #: The network as the registry writes it.
        self.cidr = cidr
        #: The entry's name in the IANA registry it comes from.
        self.name = name
        #: IANA's "Globally Reachable": True, False, or None where the registry says N/A.
        self.globally_reachable = globally_reachable
        #: What a refusal calls an address of this block.
        self.category = category
        #: ``JUDGED`` or ``NAMED`` for the IPv6 forms that embed an IPv4 address, else empty.
        self.embedding = embedding
        self.prefixlen = prefixlen
        #: The block's first and last address, as integers.
        self.first = first
        self.last = last

    def __repr__(self) -> str:
        return f"Block({self.cidr}, {self.name!r}, reachable={self.globally_reachable})"

    @property
    def network(self) -> IPNetwork:
        """The block as an :mod:`ipaddress` network."""
        return ipaddress.ip_network(self.cidr)


def _blocks(rows: Iterable[tuple[str, str, bool | None, str, str]]) -> tuple[Block, ...]:
    """Build the table, most specific entry first, so the first match decides.

    The bounds are computed with :func:`socket.inet_pton` rather than :mod:`ipaddress`
    network objects, whose construction would cost the fetcher's start-up a millisecond.
    """
    blocks = []
    for cidr, name, reachable, category, embedding in rows:
        text, _, length = cidr.partition("/")
        family, bits = (socket.AF_INET6, 128) if ":" in text else (socket.AF_INET, 32)
        first = int.from_bytes(socket.inet_pton(family, text), "big")
        prefixlen = int(length)
        last = first | ((1 << (bits - prefixlen)) - 1)
        blocks.append(
            Block(
                cidr=cidr,
                name=name,
                globally_reachable=reachable,
                category=category,
                embedding=embedding,
                prefixlen=prefixlen,
                first=first,
                last=last,
            )
        )
    return tuple(sorted(blocks, key=lambda block: -block.prefixlen))


#: IPv4: the Special-Purpose Address Registry (every entry), then multicast from the
#: Address Space Registry. 192.88.99.0/24 was deprecated in 2015 (RFC 7526), which removed
#: its booleans; it is refused like every entry that is not globally reachable.
IPV4_BLOCKS = _blocks(
    [
        ("0.0.0.0/8", '"This network"', False, "unspecified", ""),
        ("0.0.0.0/32", '"This host on this network"', False, "unspecified", ""),
        ("10.0.0.0/8", "Private-Use", False, "private", ""),
        ("100.64.0.0/10", "Shared Address Space", False, "carrier-grade-nat", ""),
        ("127.0.0.0/8", "Loopback", False, "loopback", ""),
        ("169.254.0.0/16", "Link Local", False, "link-local", ""),
        ("172.16.0.0/12", "Private-Use", False, "private", ""),
        ("192.0.0.0/24", "IETF Protocol Assignments", False, "ietf-protocol", ""),
        ("192.0.0.0/29", "IPv4 Service Continuity Prefix", False, "ietf-protocol", ""),
        ("192.0.0.8/32", "IPv4 dummy address", False, "ietf-protocol", ""),
        ("192.0.0.9/32", "Port Control Protocol Anycast", True, "", ""),
        ("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", True, "", ""),
        ("192.0.0.170/32", "NAT64/DNS64 Discovery", False, "ietf-protocol", ""),
        ("192.0.0.171/32", "NAT64/DNS64 Discovery", False, "ietf-protocol", ""),
        ("192.0.2.0/24", "Documentation (TEST-NET-1)", False, "documentation", ""),
        ("192.31.196.0/24", "AS112-v4", True, "", ""),
        ("192.52.193.0/24", "AMT", True, "", ""),
        ("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", None, "6to4-relay", ""),
        ("192.88.99.2/32", "6a44-relay anycast address", False, "6a44-relay", ""),
        ("192.168.0.0/16", "Private-Use", False, "private", ""),
        ("192.175.48.0/24", "Direct Delegation AS112 Service", True, "", ""),
        ("198.18.0.0/15", "Benchmarking", False, "benchmark", ""),
        ("198.51.100.0/24", "Documentation (TEST-NET-2)", False, "documentation", ""),
        ("203.0.113.0/24", "Documentation (TEST-NET-3)", False, "documentation", ""),
        ("240.0.0.0/4", "Reserved", False, "reserved", ""),
        ("255.255.255.255/32", "Limited Broadcast", False, "broadcast", ""),
        ("224.0.0.0/4", "Multicast (IPv4 Address Space Registry)", False, "multicast", ""),
    ]
)

#: IPv6: the Special-Purpose Address Registry (every entry), then the Address Space
#: Registry's multicast and deprecated site-local blocks, and the deprecated
#: IPv4-compatible form (RFC 4291), which no registry lists.
IPV6_BLOCKS = _blocks(
    [
        ("::1/128", "Loopback Address", False, "loopback", ""),
        ("::/128", "Unspecified Address", False, "unspecified", ""),
        ("::ffff:0:0/96", "IPv4-mapped Address", False, "ipv4-mapped", JUDGED),
        ("64:ff9b::/96", "IPv4-IPv6 Translat.", True, "nat64", JUDGED),
        ("64:ff9b:1::/48", "IPv4-IPv6 Translat.", False, "nat64-local", JUDGED),
        ("100::/64", "Discard-Only Address Block", False, "discard-only", ""),
        ("100:0:0:1::/64", "Dummy IPv6 Prefix", False, "dummy", ""),
        ("2001::/23", "IETF Protocol Assignments", False, "ietf-protocol", ""),
        ("2001::/32", "TEREDO", None, "teredo", NAMED),
        ("2001:1::1/128", "Port Control Protocol Anycast", True, "", ""),
        ("2001:1::2/128", "Traversal Using Relays around NAT Anycast", True, "", ""),
        ("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", True, "", ""),
        ("2001:2::/48", "Benchmarking", False, "benchmark", ""),
        ("2001:3::/32", "AMT", True, "", ""),
        ("2001:4:112::/48", "AS112-v6", True, "", ""),
        ("2001:10::/28", "Deprecated (previously ORCHID)", None, "orchid", ""),
        ("2001:20::/28", "ORCHIDv2", True, "", ""),
        ("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", True, "", ""),
        ("2001:db8::/32", "Documentation", False, "documentation", ""),
        ("2002::/16", "6to4", None, "6to4", NAMED),
        ("2620:4f:8000::/48", "Direct Delegation AS112 Service", True, "", ""),
        ("3fff::/20", "Documentation", False, "documentation", ""),
        ("5f00::/16", "Segment Routing (SRv6) SIDs", False, "srv6-sid", ""),
        ("fc00::/7", "Unique-Local", False, "unique-local", ""),
        ("fe80::/10", "Link-Local Unicast", False, "link-local", ""),
        ("fec0::/10", "Site-local, deprecated (IPv6 Address Space Registry)", False,
         "site-local", ""),
        ("ff00::/8", "Multicast (IPv6 Address Space Registry)", False, "multicast", ""),
        ("::/96", "IPv4-compatible, deprecated (RFC 4291)", False, "ipv4-compatible", NAMED),
    ]
)  # fmt: skip

#: The only IPv6 space allocated as global unicast (IPv6 Address Space Registry): 2000::/3.
IPV6_GLOBAL_UNICAST = range(0x2000 << 112, 0x4000 << 112)
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
