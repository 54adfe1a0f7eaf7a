"""The ``scan_results`` table: writing a completed scan's result, and reading results back;
``scan_peers``: the addresses each completed scan connected to."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.engine import Connection

from worker.store.models import PEERS, RESULTS
from worker.urls import url_host


def insert_result(connection: Connection, values: Mapping[str, Any]) -> int:
    """Insert one result row (in the transaction of its job's COMPLETED move); return its id."""
    inserted = connection.execute(RESULTS.insert().values(**values))
    key = inserted.inserted_primary_key
    if key is None:
        raise RuntimeError("the database returned no id for the new result")
    return int(key.id)


def peer_address(address: str) -> str:
    """An address as results store it and searches match it: compressed (``::1``, not
    ``0:0:0:0:0:0:0:1``); anything that is no IP address is kept as it is."""
    try:
        return ipaddress.ip_address(address).compressed
    except ValueError:
        return address


def search_columns(*, final_url: str | None, peer: str | None) -> dict[str, str | None]:
    """The columns a result is searched by: the host of its final URL, and ``peer``, the
    address the final answer came from."""
    return {
        "final_host": (url_host(final_url) or None) if final_url else None,
        "peer_address": peer_address(peer) if peer else None,
    }


#: Most addresses kept per scan (a browser's page may reach many hosts).
MAX_PEERS = 256


def connected_addresses(
    *, peer: str | None, egress: Iterable[Mapping[str, Any]] | None
) -> list[str]:
    """The distinct addresses a scan connected to, compressed, in the order first met: the
    final answer's ``peer``, then the address of each connection of its egress record that
    reached one (a refused one reached none). At most :data:`MAX_PEERS`."""
    found = [peer] if peer else []
    for connection in egress or ():
        address = connection.get("connected")
        if isinstance(address, str) and address:
            found.append(address)
    return list(dict.fromkeys(peer_address(address) for address in found))[:MAX_PEERS]


def insert_peers(connection: Connection, *, job_id: str, addresses: Iterable[str]) -> None:
    """Store the addresses a completed scan connected to (in its COMPLETED transaction)."""
    rows = [{"peer_address": address, "job_id": job_id} for address in addresses]
    if rows:
        connection.execute(PEERS.insert(), rows)
