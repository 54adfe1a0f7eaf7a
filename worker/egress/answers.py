"""What the proxy answers a client: a status line and scanbox's headers, never a body.

The headers' names and what they may say are the fetcher's (:mod:`fetcher.proxy`), which
reads them on the other side. Everything in them is printable ASCII and bounded, whatever a
detail was made from.
"""

from __future__ import annotations

import asyncio

from fetcher.addresses import IPAddress
from fetcher.proxy import DETAIL_HEADER, ERROR_HEADER, PEER_HEADER, REFUSAL_HEADER
from worker.egress.errors import Refusal
from worker.egress.records import MAX_DETAIL_CHARS

#: Reason phrases of the statuses the proxy answers with.
REASONS = {
    200: "Connection established",
    400: "Bad Request",
    403: "Forbidden",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


async def answer_tunnel(writer: asyncio.StreamWriter, *, peer: IPAddress) -> None:
    """Tell the client its tunnel is open, and to which address."""
    await _answer(writer, status=200, headers=[(PEER_HEADER, str(peer))])


async def answer_refusal(writer: asyncio.StreamWriter, refusal: Refusal) -> None:
    """Tell the client why its request was refused or could not be carried out."""
    headers = [(REFUSAL_HEADER, refusal.reason), (DETAIL_HEADER, refusal.detail)]
    if refusal.error:
        headers.append((ERROR_HEADER, refusal.error))
    await _answer(writer, status=refusal.status, headers=headers)


async def _answer(
    writer: asyncio.StreamWriter, *, status: int, headers: list[tuple[str, str]]
) -> None:
    lines = [f"HTTP/1.1 {status} {REASONS[status]}"]
    lines += [f"{name}: {header_safe(value)}" for name, value in headers]
    if status != 200:
        lines += ["Content-Length: 0", "Connection: close"]
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
        await writer.drain()
    except (OSError, RuntimeError):
        # The client went away; its record says what it was answered all the same.
        pass


def header_safe(value: str) -> str:
    """``value`` as one header line can carry it: printable ASCII, bounded."""
    return "".join(c if " " <= c <= "~" else "?" for c in value[:MAX_DETAIL_CHARS])
