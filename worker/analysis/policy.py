"""The analysis policy: domain and hash block/allow lists, read from a TOML file.

The file can change without rebuilding any image or restarting workers: ``PolicyFile`` reads
it again when it changes (``POLICY_FILE`` names it). Format::

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
from worker.logs import get_logger


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


class PolicyFile:
    """A policy file that is read again whenever it changes, so edits need no restart.

    A file that becomes unreadable or malformed keeps the last good policy in force (and says
    so in the log); one that is bad when the worker starts stops it with a clear error.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = self._stat()
        self._policy = Policy.load(path)

    def _stat(self) -> tuple[int, int]:
        try:
            stat = self.path.stat()
        except OSError as error:
            raise ConfigurationError(f"policy file {str(self.path)!r}: {error}") from error
        return stat.st_mtime_ns, stat.st_size

    def current(self) -> Policy:
        """The policy as the file says now."""
        try:
            stamp = self._stat()
            if stamp != self._stamp:
                self._policy = Policy.load(self.path)
                self._stamp = stamp
                get_logger().info("policy_reloaded", path=str(self.path))
        except ConfigurationError as error:
            get_logger().warning("policy_kept", reason=str(error))
        return self._policy
