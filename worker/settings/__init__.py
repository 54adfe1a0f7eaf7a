"""scanbox's one settings object, read from the environment (and ``.env``) in one place.

``Settings`` is declared a section a module, in the order the configuration reference lists
them: ``store`` (database, Redis, queues), ``sandbox`` (fetcher, egress, containers),
``browser``, ``scanning`` (workers, retries, rates), ``producers`` (API, submit stream,
webhooks) and ``operations`` (schedules, maintenance, metrics, logs). Each setting is one flat
environment variable, whatever its section.
"""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from worker.settings.browser import BrowserSettings
from worker.settings.operations import OperationSettings
from worker.settings.producers import ProducerSettings
from worker.settings.sandbox import (
    DEFAULT_FETCHER_BASE_IMAGE,
    DEFAULT_FETCHER_IMAGE,
    EGRESS_NETWORK,
    MAX_EGRESS_DIR,
    RUNSC_MIN_PIDS,
    SandboxSettings,
)
from worker.settings.scanning import ScanningSettings
from worker.settings.store import DEFAULT_DATABASE_URL, DEFAULT_QUEUE_NAME, StoreSettings

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEFAULT_FETCHER_BASE_IMAGE",
    "DEFAULT_FETCHER_IMAGE",
    "DEFAULT_QUEUE_NAME",
    "EGRESS_NETWORK",
    "MAX_EGRESS_DIR",
    "RUNSC_MIN_PIDS",
    "Settings",
]


class Settings(
    StoreSettings,
    SandboxSettings,
    BrowserSettings,
    ScanningSettings,
    ProducerSettings,
    OperationSettings,
):
    """Every knob scanbox has. Construct once at the edge (CLI), then pass it in."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )
