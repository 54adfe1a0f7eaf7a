"""The callback rules from the settings: the scans' address rules, and ``WEBHOOK_URL``."""

from __future__ import annotations

from fetcher.addresses import parse_network
from fetcher.ports import parse_port_policy
from worker.errors import ConfigurationError, InvalidURL
from worker.settings import Settings
from worker.submit.callbacks import CallbackRules, check_callback_url


def callback_rules(settings: Settings) -> CallbackRules:
    """The address rules callbacks obey: ``FETCHER_ALLOW_NETWORKS``, ``FETCHER_ALLOWED_PORTS``."""
    return CallbackRules(
        allowed_networks=tuple(parse_network(n) for n in settings.fetcher_allow_networks),
        allowed_ports=parse_port_policy(settings.fetcher_allowed_ports),
    )


def default_callback(settings: Settings) -> str | None:
    """``WEBHOOK_URL``, checked by the callback rules; ``None`` when it is unset."""
    if not settings.webhook_url:
        return None
    try:
        return check_callback_url(settings.webhook_url, rules=callback_rules(settings))
    except InvalidURL as error:
        raise ConfigurationError(f"WEBHOOK_URL: {error.reason}") from None
