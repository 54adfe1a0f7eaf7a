"""Checking a callback URL when it is submitted: the scans' own address rules, nothing stored yet.

A callback is a request scanbox makes to an address a producer chose, so it obeys what a scan
obeys: http or https, a port ``FETCHER_ALLOWED_PORTS`` allows, and no address the fetcher's
classifier refuses unless ``FETCHER_ALLOW_NETWORKS`` allows it. An IP address is judged here,
at submit; a name is judged when the webhook is delivered, by the egress proxy, on every
address it resolves to (and refused then if any is refused), since what a name resolves to
at submit says nothing about what it will resolve to later.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from fetcher.addresses import IPNetwork, classify
from fetcher.errors import FetchError
from fetcher.ports import DEFAULT_ALLOWED_PORTS, PortPolicy, parse_port_policy
from fetcher.urls import parse_target
from worker.errors import InvalidURL
from worker.urls import validate_url

#: The ports a callback may name unless configured otherwise: the fetcher's own default.
DEFAULT_PORT_POLICY = parse_port_policy(DEFAULT_ALLOWED_PORTS)


@dataclass(frozen=True, kw_only=True)
class CallbackRules:
    """The address rules callbacks obey: the scans' allow-list and ports."""

    #: ``FETCHER_ALLOW_NETWORKS``.
    allowed_networks: tuple[IPNetwork, ...] = ()
    #: ``FETCHER_ALLOWED_PORTS``.
    allowed_ports: PortPolicy = DEFAULT_PORT_POLICY


def check_callback_url(url: str, *, rules: CallbackRules) -> str:
    """Return ``url`` stripped, or raise ``InvalidURL`` saying why it can't be called back."""
    candidate = validate_url(url)
    try:
        target = parse_target(candidate, allowed_ports=rules.allowed_ports)
    except FetchError as error:
        raise InvalidURL(url, f"callback URL refused: {error.message}") from None
    try:
        address = ipaddress.ip_address(target.host)
    except ValueError:
        return candidate
    category = classify(address, allowed_networks=rules.allowed_networks)
    if category is not None:
        raise InvalidURL(
            url,
            f"callback URL refused: {address} is a {category} address, "
            "which FETCHER_ALLOW_NETWORKS does not allow",
        )
    return candidate
