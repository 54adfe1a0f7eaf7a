"""Settings that are valid but weaken the fetchers' sandbox, said once when workers start."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from worker.settings import EGRESS_NETWORK

if TYPE_CHECKING:
    from worker.settings import Settings


def sandbox_weakenings(settings: Settings) -> list[str]:
    """Settings that are valid but weaken the fetchers' sandbox, each with what it costs."""
    found = []
    if settings.container_user.split(":", 1)[0].strip() in ("0", "root"):
        found.append("CONTAINER_USER runs fetchers as root")
    if settings.fetcher_network == "host":
        found.append("FETCHER_NETWORK=host shares the host's network with every page")
    elif settings.fetcher_network not in (EGRESS_NETWORK, "none"):
        found.append(
            f"FETCHER_NETWORK={settings.fetcher_network} gives fetchers a network of their own, "
            "guarded only by the fetcher's own checks (egress: only through the proxy)"
        )
    if any(
        ipaddress.ip_network(network, strict=False).prefixlen == 0
        for network in settings.fetcher_allow_networks
    ):
        found.append("FETCHER_ALLOW_NETWORKS allows every address, private ones included")
    if settings.container_runtime in ("", "runc"):
        found.append("no runtime isolation (CONTAINER_RUNTIME=runsc runs fetchers under gVisor)")
    return found
