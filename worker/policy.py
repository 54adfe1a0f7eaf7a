"""The analysis policy: domain and hash block/allow lists, read from a TOML file.

The file can change without rebuilding any image; workers read it when they start. Format::

    [domains]
    block = ["evil.example", "phish.example"]   # the domain and every subdomain
    allow = ["intranet.example"]

    [hashes]
    block = ["<sha256 hex>", ...]               # bodies known to be malicious
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from worker.errors import ConfigurationError


@dataclass(frozen=True, kw_only=True)
class Policy:
    """Lists that override or add to the rule-based verdict."""

    blocked_domains: frozenset[str] = field(default_factory=frozenset)
    allowed_domains: frozenset[str] = field(default_factory=frozenset)
    blocked_hashes: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def load(cls, path: Path) -> Policy:
        """Read a policy file; a missing or malformed file is a ``ConfigurationError``."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigurationError(f"policy file {str(path)!r}: {error}") from error
        domains = data.get("domains", {})
        hashes = data.get("hashes", {})
        try:
            return cls(
                blocked_domains=_names(domains.get("block", [])),
                allowed_domains=_names(domains.get("allow", [])),
                blocked_hashes=frozenset(str(value).lower() for value in hashes.get("block", [])),
            )
        except (AttributeError, TypeError) as error:
            raise ConfigurationError(f"policy file {str(path)!r}: {error}") from error

    def domain_blocked(self, host: str) -> bool:
        """Whether ``host`` is a blocked domain or below one."""
        return _matches(host, self.blocked_domains)

    def domain_allowed(self, host: str) -> bool:
        """Whether ``host`` is an allowed domain or below one."""
        return _matches(host, self.allowed_domains)


def _names(values: list[str]) -> frozenset[str]:
    return frozenset(
        str(value).strip().lower().rstrip(".") for value in values if str(value).strip()
    )


def _matches(host: str, domains: frozenset[str]) -> bool:
    host = host.lower().rstrip(".")
    labels = host.split(".")
    return any(".".join(labels[index:]) in domains for index in range(len(labels)))
