"""Running scanbox over time: schedules, maintenance, run statistics, metrics and logs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings


class OperationSettings(BaseSettings):
    """Schedules, maintenance, metrics and logs."""

    #: How often ``scanbox scheduler`` re-reads the schedules table (edits take effect then).
    scheduler_refresh_ms: int = Field(default=300_000, ge=50)
    #: Scans in a row ending FAILED, TIMED_OUT or DISCARDED that pause a schedule; 0: never.
    schedule_max_failures: int = Field(default=5, ge=0)
    #: How often a scheduler runs ``scanbox maintenance`` (one replica at a time); 0: never.
    maintenance_interval_ms: int = Field(default=86_400_000, ge=0)
    #: Days terminal jobs (with their results and audit rows) are kept; 0: forever.
    retention_days: int = Field(default=30, ge=0)
    #: How often a running worker or scheduler writes its run statistics.
    run_stats_flush_ms: int = Field(default=2_000, ge=0)
    #: Port of the Prometheus metrics endpoint; worker process N serves on port + N. 0: off.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    #: Address the metrics endpoint listens on.
    metrics_host: str = "127.0.0.1"
    #: Log format: ``json`` (one object a line) or ``console``.
    log_format: Literal["json", "console"] = "json"
    #: Lowest level of log lines written.
    log_level: Literal["debug", "info", "warning", "error"] = "info"
