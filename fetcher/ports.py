"""Which TCP ports a fetch may connect to, parsed from ``--allowed-ports``."""

from __future__ import annotations

from typing import NamedTuple

#: The ``--allowed-ports`` value that lifts the port restriction.
ANY_PORT = "any"

#: Ports a URL may name unless ``--allowed-ports`` says otherwise: web and its common alternates.
DEFAULT_ALLOWED_PORTS = "80,443,8080,8443"

#: The highest TCP port number.
MAX_PORT = 65535


class PortPolicy(NamedTuple):
    """The set of ports a fetch may connect to; ``ranges`` of None means any port."""

    ranges: tuple[tuple[int, int], ...] | None

    def allows(self, port: int) -> bool:
        """Say whether a URL or redirect may target ``port``."""
        if self.ranges is None:
            return True
        return any(low <= port <= high for low, high in self.ranges)


def parse_port_policy(spec: str) -> PortPolicy:
    """Parse ``any`` or a comma list of ports and ranges such as ``80,443,8000-8999``.

    Raises ValueError naming the offending item, reported as a usage error on the command line.
    """
    if spec.strip().lower() == ANY_PORT:
        return PortPolicy(ranges=None)
    ranges = []
    for item in spec.split(","):
        low_text, dash, high_text = item.strip().partition("-")
        low = _port(low_text, item=item)
        high = _port(high_text, item=item) if dash else low
        if low > high:
            raise ValueError(f"port range {item.strip()!r} runs backwards")
        ranges.append((low, high))
    return PortPolicy(ranges=tuple(ranges))


def _port(text: str, *, item: str) -> int:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_PORT:
        raise ValueError(f"{item.strip()!r} is not a port or port range between 1 and {MAX_PORT}")
    return int(text)
