"""What producers and receivers talk to: the HTTP API, the submit stream, webhooks."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from worker.errors import ConfigurationError
from worker.urls import validate_url
from worker.webhooks.signing import parse_secret


class ProducerSettings(BaseSettings):
    """API, submit stream and webhooks."""

    #: Address ``scanbox api`` listens on.
    api_host: str = "127.0.0.1"
    #: Port ``scanbox api`` listens on.
    api_port: int = Field(default=8080, ge=1, le=65535)
    #: Requests one API key may make per ``API_RATE_WINDOW_MS`` (counted in Redis across every
    #: API process); past it the API answers 429. 0: no limit.
    api_rate_limit: int = Field(default=600, ge=0)
    #: The window the API's per-key request limit counts over.
    api_rate_window_ms: int = Field(default=60_000, ge=1_000)
    #: Signs the API's page cursors and its forms' CSRF tokens; every API process of one
    #: deployment needs the same one. Empty: a random secret per process (cursors and forms
    #: then last as long as the process).
    api_secret: SecretStr | None = None
    #: Redis stream producers in any language add submissions to (``XADD``); workers read it
    #: as one consumer group. Empty: workers read no stream.
    submit_stream: str = "scanbox:submit"
    #: Entries a worker reads from the submit stream at a time (one transaction).
    submit_stream_batch: int = Field(default=100, ge=1, le=10_000)
    #: How long an entry may stay unacknowledged with one worker before another claims it (the
    #: first died between reading and acknowledging it).
    submit_stream_claim_idle_ms: int = Field(default=60_000, ge=100)
    #: Refused entries kept in the rejected stream (``SUBMIT_STREAM`` + ``:rejected``).
    submit_rejected_max_length: int = Field(default=10_000, ge=1)
    #: Where completion webhooks go for submissions that name no callback URL; empty: none.
    webhook_url: str = ""
    #: Key that signs webhooks (Standard Webhooks): ``whsec_`` and the base64 of 24 to 64
    #: random bytes. Without it nothing is sent.
    webhook_secret: SecretStr | None = None
    #: Deadline of one delivery attempt, from connecting to the end of the answer.
    webhook_timeout_ms: int = Field(default=10_000, ge=100)
    #: Attempts a delivery gets (timeouts, 429 and 5xx are tried again) before it is failed.
    webhook_max_attempts: int = Field(default=8, ge=1, le=100)
    #: Delay after the first failed attempt; doubles each attempt, with jitter.
    webhook_retry_backoff_ms: int = Field(default=5_000, ge=0)
    #: Longest delay between two attempts, a receiver's ``Retry-After`` included.
    webhook_retry_backoff_max_ms: int = Field(default=3_600_000, ge=0)
    #: Deliveries each worker process sends at once.
    webhook_concurrency: int = Field(default=4, ge=1, le=64)
    #: How often each worker process looks for deliveries that are due.
    webhook_poll_ms: int = Field(default=1_000, ge=10)

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                parse_secret(value.get_secret_value())
            except ConfigurationError as error:
                raise ValueError(str(error)) from None
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str) -> str:
        return validate_url(value) if value.strip() else ""
