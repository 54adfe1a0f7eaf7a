"""Wiring webhook delivery: an egress proxy of the process's own, the sender, the deliverer.

A worker process delivers the outbox beside its scans. Its requests go through an egress
proxy that runs on a thread of the process (``worker.egress.background``), under the scans'
address rules: ``FETCHER_ALLOW_NETWORKS`` and ``FETCHER_ALLOWED_PORTS``.
"""

from __future__ import annotations

import random
import ssl
from functools import partial
from importlib.metadata import version
from pathlib import Path

from fetcher.addresses import parse_network
from fetcher.ports import parse_port_policy
from worker.egress.background import BackgroundEgress
from worker.egress.client import EgressClient
from worker.egress.config import EgressConfig
from worker.settings import Settings
from worker.store.database import Database
from worker.webhooks.deliverer import Deliverer
from worker.webhooks.retry import RetryPolicy
from worker.webhooks.sender import SESSION_MAX_BYTES, WebhookSender
from worker.webhooks.signing import Signer, parse_secret

#: Connections one delivery's egress session may make: one, and one to spare.
SESSION_CONNECTIONS = 2


def webhook_egress(settings: Settings, directory: Path) -> EgressConfig:
    """The configuration of the egress proxy deliveries go through, in ``directory``."""
    timeout_s = settings.webhook_timeout_ms / 1000
    return EgressConfig(
        directory=directory,
        allowed_networks=tuple(parse_network(n) for n in settings.fetcher_allow_networks),
        allowed_ports=parse_port_policy(settings.fetcher_allowed_ports),
        max_sessions=settings.webhook_concurrency * 2,
        session_max_connections=SESSION_CONNECTIONS,
        session_max_bytes=SESSION_MAX_BYTES,
        session_ttl_s=timeout_s,
        max_session_ttl_s=timeout_s,
    )


def build_deliverer(
    settings: Settings, *, db: Database, egress: EgressClient, tls: ssl.SSLContext | None = None
) -> Deliverer:
    """The deliverer of ``db``'s outbox, sending through ``egress``; ``tls`` verifies https
    callbacks (default: the system's trusted authorities)."""
    timeout_s = settings.webhook_timeout_ms / 1000
    secret = settings.webhook_secret
    return Deliverer(
        db=db,
        sender=WebhookSender(
            egress=egress,
            allowed_networks=tuple(parse_network(n) for n in settings.fetcher_allow_networks),
            allowed_ports=parse_port_policy(settings.fetcher_allowed_ports),
            timeout_s=timeout_s,
            user_agent=f"scanbox/{version('scanbox')} (webhook)",
            tls=tls,
        ),
        signer=None if secret is None else Signer(key=parse_secret(secret.get_secret_value())),
        policy=RetryPolicy(
            max_attempts=settings.webhook_max_attempts,
            base_s=settings.webhook_retry_backoff_ms / 1000,
            max_s=settings.webhook_retry_backoff_max_ms / 1000,
            rng=random.Random(),  # noqa: S311 (jitter, not secrets)
        ),
        timeout_s=timeout_s,
        concurrency=settings.webhook_concurrency,
        poll_s=settings.webhook_poll_ms / 1000,
    )


class WebhookService:
    """The egress proxy and the deliverer of one process, started and stopped together."""

    def __init__(self, settings: Settings, *, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.egress = BackgroundEgress(partial(webhook_egress, settings))
        self.deliverer: Deliverer | None = None

    def start(self) -> None:
        client = self.egress.start()
        self.deliverer = build_deliverer(self.settings, db=self.db, egress=client)
        self.deliverer.start()

    def stop(self) -> None:
        if self.deliverer is not None:
            self.deliverer.stop()
        self.egress.stop()
