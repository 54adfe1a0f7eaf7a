"""The ``scan_results`` table: writing a completed scan's result, and reading results back."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from worker.store.models import RESULTS
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
