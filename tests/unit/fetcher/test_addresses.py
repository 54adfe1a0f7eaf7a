"""The SSRF blocklist as a pure function: no test here opens a connection or resolves a name."""

from __future__ import annotations

import ipaddress

import pytest

from fetcher.addresses import classify, parse_network
from fetcher.registry import IPV4_BLOCKS, IPV6_BLOCKS, JUDGED, NAMED, REGISTRY_DATE
from tests.unit.fetcher.address_cases import CASES

#: Properties whose tables changed between Python patch releases; the classifier must not
#: read any of them.
INTERPRETER_TABLES = (
    "is_global",
    "is_private",
    "is_reserved",
    "is_loopback",
    "is_link_local",
    "is_multicast",
    "is_unspecified",
    "is_site_local",
)


def _classify_case(address: str, networks: tuple[str, ...]) -> str | None:
    return classify(
        ipaddress.ip_address(address),
        allowed_networks=[ipaddress.ip_network(network) for network in networks],
    )


@pytest.mark.parametrize(("address", "networks", "expected"), CASES)
def test_each_address_gets_the_registry_decision(
    address: str, networks: tuple[str, ...], expected: str | None
) -> None:
    assert _classify_case(address, networks) == expected


@pytest.fixture
def no_interpreter_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every interpreter-dependent ipaddress property fail when read."""

    def refuse(_self: object) -> bool:
        raise AssertionError("the classifier read an interpreter-dependent table")

    for cls in (ipaddress.IPv4Address, ipaddress.IPv6Address):
        for name in INTERPRETER_TABLES:
            if hasattr(cls, name):
                monkeypatch.setattr(cls, name, property(refuse))


@pytest.mark.usefixtures("no_interpreter_tables")
def test_no_decision_reads_the_interpreters_own_tables() -> None:
    decisions = [_classify_case(address, networks) for address, networks, _ in CASES]
    assert decisions == [expected for _, _, expected in CASES]


def test_the_tables_say_where_they_come_from() -> None:
    assert REGISTRY_DATE == "2025-10-09"
    for block in IPV4_BLOCKS + IPV6_BLOCKS:
        assert block.name
        assert block.embedding in ("", JUDGED, NAMED)
        if block.embedding:
            # Decided through the embedded address, and named in the refusal either way.
            assert block.category, block
        else:
            # A reachable entry allows; every other one names what a refusal calls it.
            assert (block.category == "") == (block.globally_reachable is True), block


def test_the_most_specific_entry_comes_first() -> None:
    for blocks in (IPV4_BLOCKS, IPV6_BLOCKS):
        lengths = [block.network.prefixlen for block in blocks]
        assert lengths == sorted(lengths, reverse=True)


@pytest.mark.parametrize(
    ("text", "network"),
    [
        ("127.0.0.0/8", "127.0.0.0/8"),
        (" 10.1.0.0/16 ", "10.1.0.0/16"),
        ("127.0.0.1", "127.0.0.1/32"),
        ("::1/128", "::1/128"),
        ("fd00::/8", "fd00::/8"),
    ],
)
def test_allow_list_networks_parse(text: str, network: str) -> None:
    assert parse_network(text) == ipaddress.ip_network(network)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("127.0.0.1/8", "'127.0.0.1/8' has host bits set: the network is 127.0.0.0/8"),
        ("10.0.0.1/8", "'10.0.0.1/8' has host bits set: the network is 10.0.0.0/8"),
        ("fd00::1/8", "'fd00::1/8' has host bits set: the network is fd00::/8"),
        ("not-a-network", "'not-a-network' is not a network in CIDR notation"),
        ("10.0.0.0/33", "'10.0.0.0/33' is not a network in CIDR notation"),
        ("", "'' is not a network in CIDR notation"),
    ],
)
def test_bad_allow_list_networks_are_refused_with_one_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"CIDR notation|host bits set") as raised:
        parse_network(text)
    assert str(raised.value) == message
