"""Clients of what scanbox talks to, from the settings: Redis, the Docker engine, the RQ
queues, the worker processes' heartbeats."""

from __future__ import annotations

import os
import secrets
import socket
from datetime import timedelta

import docker
import redis.exceptions
from redis import Redis

from worker.errors import ConfigurationError
from worker.queue.dispatch import RQDispatcher
from worker.queue.liveness import Heartbeat, Liveness
from worker.settings import Settings

#: Seconds RQ lets a task run beyond the container deadline before it kills the task itself.
TASK_TIMEOUT_MARGIN_S = 120


#: Seconds a Docker API call may take (waiting for a container has its own deadline).
DOCKER_API_TIMEOUT_S = 60


def new_process_id() -> str:
    """A unique name for one worker or scheduler process: host, pid and a random suffix."""
    return f"{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(3)}"


def open_redis(settings: Settings) -> Redis:
    """A Redis client for the configured server."""
    return Redis.from_url(settings.effective_redis_url, health_check_interval=30)


def check_redis(settings: Settings) -> None:
    """Raise unless Redis answers: ``ConfigurationError`` when it refuses the password."""
    client = open_redis(settings)
    try:
        client.ping()
    except (redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError) as error:
        raise ConfigurationError(
            f"Redis refused the credentials in REDIS_URL / REDIS_PASSWORD: {error}"
        ) from error
    except redis.exceptions.ResponseError as error:
        if "NOAUTH" not in str(error):
            raise
        raise ConfigurationError(
            "Redis wants a password: set it in REDIS_URL or REDIS_PASSWORD"
        ) from error
    finally:
        client.close()


def open_docker() -> docker.DockerClient:
    """A Docker client from the SDK's own environment (``DOCKER_HOST`` and friends)."""
    return docker.from_env(timeout=DOCKER_API_TIMEOUT_S)


def dispatcher(settings: Settings, redis: Redis) -> RQDispatcher:
    """The RQ dispatcher for the configured queues."""
    return RQDispatcher(
        redis=redis,
        base_queue=settings.queue_name,
        job_timeout_s=settings.container_timeout_ms // 1000 + TASK_TIMEOUT_MARGIN_S,
    )


def liveness(settings: Settings, redis: Redis) -> Liveness:
    """The heartbeats of this deployment's worker processes."""
    return Liveness(redis=redis, namespace=f"scanbox:{settings.deployment}:workers")


def heartbeat(settings: Settings, redis: Redis, *, worker_id: str) -> Heartbeat:
    """The heartbeat of worker process ``worker_id``: it lapses one housekeeping interval
    after the process stops beating, so the reaper's second round finds it gone."""
    return Heartbeat(
        liveness=liveness(settings, redis),
        worker_id=worker_id,
        ttl=timedelta(milliseconds=settings.housekeeping_interval_ms),
    )
