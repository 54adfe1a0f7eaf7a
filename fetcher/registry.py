"""The IANA registries that decide which addresses a fetch may reach, written out as data.

The IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890) as they read on
:data:`REGISTRY_DATE`, with each entry's "Globally Reachable" value as IANA gives it (None
where IANA says N/A), plus the blocks the IPv4 and IPv6 Address Space Registries set apart:
IPv4 multicast, IPv6 multicast and the deprecated site-local block. In IPv6 only
``2000::/3`` is allocated as global unicast. :mod:`fetcher.addresses` applies them.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

#: The date the special-purpose tables were taken from the IANA registries.
REGISTRY_DATE = "2025-10-09"
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
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
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
