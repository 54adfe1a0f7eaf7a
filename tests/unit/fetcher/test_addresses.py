"""The SSRF blocklist as a pure function: no test here opens a connection or resolves a name."""

from __future__ import annotations

import ipaddress

import pytest

from fetcher.addresses import classify

BLOCKED = [
    # IPv4
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("127.0.1.1", "loopback"),
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.0.1", "private"),
    ("192.168.255.255", "private"),
    ("169.254.169.254", "link-local"),
    ("169.254.0.1", "link-local"),
    ("100.64.0.1", "carrier-grade-nat"),
    ("100.127.255.254", "carrier-grade-nat"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved"),
    ("254.1.2.3", "reserved"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.200", "documentation"),
    ("198.18.0.1", "benchmark"),
    ("198.19.255.254", "benchmark"),
    ("192.0.0.9", "ietf-protocol"),
    ("192.88.99.1", "6to4-relay"),
    # IPv6
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("0:0:0:0:0:0:0:1", "loopback"),
    ("fc00::1", "unique-local"),
    ("fd12:3456:789a::1", "unique-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("febf:ffff::1", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("ff05::1:3", "multicast"),
    ("2001:db8::1", "documentation"),
    ("2001:0db8:ffff::1", "documentation"),
    ("3fff::1", "documentation"),
    ("2001:2::1", "benchmark"),
    ("100::1", "discard-only"),
    ("::ffff:0:a00:1", "ipv4-translated"),
    # IPv6 forms embedding a blocked IPv4 address, named by what they embed
    ("::ffff:127.0.0.1", "ipv4-mapped:loopback"),
    ("::ffff:7f00:1", "ipv4-mapped:loopback"),
    ("::ffff:10.1.2.3", "ipv4-mapped:private"),
    ("::ffff:169.254.169.254", "ipv4-mapped:link-local"),
    ("::ffff:192.0.2.1", "ipv4-mapped:documentation"),
    ("64:ff9b::7f00:1", "nat64:loopback"),
    ("64:ff9b::192.168.1.1", "nat64:private"),
    ("64:ff9b::169.254.169.254", "nat64:link-local"),
    ("::127.0.0.1", "ipv4-compatible:loopback"),
    ("::10.0.0.1", "ipv4-compatible:private"),
    ("2002:7f00:1::", "6to4:loopback"),
    ("2002:a9fe:a9fe::1", "6to4:link-local"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "teredo:loopback"),
    # Embedding forms that are blocked as a class even around a global IPv4 address
    ("::8.8.8.8", "ipv4-compatible"),
    ("2002:808:808::1", "6to4"),
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "teredo"),
    ("64:ff9b:1::808:808", "nat64-local"),
]

ALLOWED_GLOBAL = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "151.101.1.69",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    # Mapped and well-known NAT64 forms reach exactly the embedded global address.
    "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",
]


@pytest.mark.parametrize(("text", "category"), BLOCKED)
def test_blocked_addresses_are_named_by_category(text: str, category: str) -> None:
    assert classify(ipaddress.ip_address(text)) == category


@pytest.mark.parametrize("text", ALLOWED_GLOBAL)
def test_global_addresses_are_allowed(text: str) -> None:
    assert classify(ipaddress.ip_address(text)) is None


@pytest.mark.parametrize(
    ("text", "network"),
    [
        ("127.0.0.1", "127.0.0.0/8"),
        ("127.0.0.1", "127.0.0.1/32"),
        ("10.20.30.40", "10.20.0.0/16"),
        ("192.168.1.5", "192.168.1.0/24"),
        ("::1", "::1/128"),
        ("fd00::5", "fd00::/8"),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.0/104"),
    ],
)
def test_an_allowed_network_overrides_the_blocklist(text: str, network: str) -> None:
    address = ipaddress.ip_address(text)
    assert classify(address) is not None
    assert classify(address, allowed_networks=[ipaddress.ip_network(network)]) is None


@pytest.mark.parametrize(
    ("text", "network"),
    [
        ("127.0.0.2", "127.0.0.1/32"),
        ("10.0.0.1", "10.1.0.0/16"),
        # An IPv4 allowance does not reach IPv6 forms that embed it, nor the other way round.
        ("::ffff:127.0.0.1", "127.0.0.0/8"),
        ("64:ff9b::7f00:1", "127.0.0.0/8"),
        ("127.0.0.1", "::ffff:127.0.0.0/104"),
    ],
)
def test_an_allowed_network_covers_only_its_own_addresses(text: str, network: str) -> None:
    address = ipaddress.ip_address(text)
    assert classify(address, allowed_networks=[ipaddress.ip_network(network)]) is not None
