"""The API's own state: ``/healthz``, ``/readyz``, ``/metrics``, ``/v1/stats``, and the pages
of the problem types."""

from __future__ import annotations

import html
from typing import Annotated

import redis.exceptions
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from worker.api.auth import Caller, needs, parts_of
from worker.api.problems import PROBLEM_TYPES, Problem, unavailable
from worker.documents import finite, snapshot_dict
from worker.errors import ScanboxError
from worker.telemetry.stats import take_snapshot

#: Runs ``/v1/stats`` lists, newest first.
STATS_RUNS = 10

router = APIRouter()


@router.get("/healthz", tags=["health"], summary="The process is up")
def healthz() -> dict[str, str]:
    """Answers as long as the process does; asks nothing of the database or Redis."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    tags=["health"],
    summary="The database and Redis answer",
    responses={503: {"description": "A problem document naming what did not answer."}},
)
def readyz(request: Request) -> dict[str, str]:
    """200 when a read of the database and a Redis ``PING`` both succeed; 503 otherwise."""
    parts = parts_of(request)
    try:
        with parts.db.read() as session:
            session.connection().execute(sa.text("SELECT 1"))
    except (ScanboxError, sa.exc.SQLAlchemyError):
        raise unavailable("the database") from None
    try:
        parts.redis.ping()
    except redis.exceptions.RedisError:
        raise unavailable("Redis") from None
    return {"status": "ready", "database": "ok", "redis": "ok"}


@router.get(
    "/metrics",
    tags=["health"],
    summary="Prometheus metrics (admin keys)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Metrics."}},
)
def metrics(request: Request, _caller: Annotated[Caller, Depends(needs("admin"))]) -> Response:
    """The families the workers export, in the text exposition format: transitions this
    process wrote (jobs created), jobs per state and queue depth read at scrape time."""
    registry = parts_of(request).metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/stats", tags=["stats"], summary="What scanbox stats shows")
def stats(request: Request, _caller: Annotated[Caller, Depends(needs("read"))]) -> JSONResponse:
    """Jobs per state, the newest runs, running drains and schedules, as ``stats --json``."""
    snapshot = take_snapshot(parts_of(request).db, limit=STATS_RUNS)
    return JSONResponse(finite(snapshot_dict(snapshot)))


@router.get("/problems/{slug}", include_in_schema=False, response_class=HTMLResponse)
def problem_page(slug: str) -> HTMLResponse:
    """What a problem type means, for people following a problem's ``type``."""
    kind = PROBLEM_TYPES.get(slug)
    if kind is None:
        raise Problem("not-found", "no such problem type")
    return HTMLResponse(
        f"<!doctype html><title>{html.escape(kind.title)}</title>"
        f"<h1>{kind.status} {html.escape(kind.title)}</h1><p>{html.escape(kind.description)}</p>"
    )
