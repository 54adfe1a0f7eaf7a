"""The ASGI application: the routes, the pages, and the one place exceptions become answers.

``create_app(parts)`` builds it; ``worker.api.server`` serves it with uvicorn. Every 4xx and
5xx answer is a problem document (``worker.api.problems``); an exception of no known kind is
logged and answered with a 500 that says nothing about it.
"""

from __future__ import annotations

import redis.exceptions
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from worker.api import pages, scans, system
from worker.api.guard import Guard
from worker.api.parts import ApiParts
from worker.api.problems import PROBLEM_MEDIA_TYPE, Problem, problem_for, unavailable
from worker.errors import ScanboxError
from worker.logs import get_logger

#: The OpenAPI document's title, version, summary and description.
TITLE = "scanbox"
API_VERSION = "1"
SUMMARY = "Scan untrusted URLs inside throw-away, locked-down containers."
DESCRIPTION = (
    "Every request but /healthz and /readyz needs an API key (`Authorization: Bearer sbx_…`, "
    "made with `scanbox apikey create`) of the right scope: read, submit or admin. Errors are "
    "RFC 9457 problem documents (application/problem+json). Each key's requests are limited "
    "per window (429 with Retry-After and the RateLimit-* fields)."
)
#: What HTTP errors raised by the framework itself (routing) answer as.
_HTTP_PROBLEMS = {404: "not-found", 405: "method-not-allowed", 415: "unsupported-media-type"}


def answer(problem: Problem, request: Request) -> JSONResponse:
    """The answer of ``problem`` to ``request``."""
    return JSONResponse(
        problem.document(instance=request.url.path),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=problem.headers,
    )


def _validation_problem(error: RequestValidationError) -> Problem:
    """The first thing wrong with a request, in one line, and each thing as a field."""
    found = [
        {"location": ".".join(str(part) for part in item["loc"]), "message": item["msg"]}
        for item in error.errors()
    ]
    first = found[0] if found else {"location": "request", "message": "not valid"}
    return Problem(
        "invalid-request", f"{first['location']}: {first['message']}", extra={"errors": found}
    )


def create_app(parts: ApiParts) -> FastAPI:
    """The API and its pages over ``parts``."""
    app = build_app()
    app.state.parts = parts
    return app


def build_app() -> FastAPI:
    """The API's routes, pages and error handling, without the parts they use (enough for
    the OpenAPI document)."""
    app = FastAPI(
        title=TITLE,
        version=API_VERSION,
        summary=SUMMARY,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
    )
    log = get_logger()

    @app.exception_handler(Problem)
    async def on_problem(request: Request, error: Problem) -> JSONResponse:
        return answer(error, request)

    @app.exception_handler(ScanboxError)
    async def on_scanbox_error(request: Request, error: ScanboxError) -> JSONResponse:
        problem = problem_for(error)
        if problem.status >= 500:
            log.warning("api_error", path=request.url.path, error=str(error))
        return answer(problem, request)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return answer(_validation_problem(error), request)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, error: HTTPException) -> JSONResponse:
        slug = _HTTP_PROBLEMS.get(error.status_code, "not-found")
        return answer(Problem(slug, str(error.detail)), request)

    @app.exception_handler(redis.exceptions.RedisError)
    async def on_redis(request: Request, error: redis.exceptions.RedisError) -> JSONResponse:
        log.warning("api_redis_error", path=request.url.path, error=str(error))
        return answer(unavailable("Redis"), request)

    @app.exception_handler(sa.exc.OperationalError)
    async def on_database(request: Request, error: sa.exc.OperationalError) -> JSONResponse:
        log.warning("api_database_error", path=request.url.path, error=str(error.orig))
        return answer(unavailable("the database"), request)

    @app.exception_handler(Exception)
    async def on_anything(request: Request, error: Exception) -> JSONResponse:
        log.error("api_internal_error", path=request.url.path, exc_info=error)
        return answer(Problem("internal-error", "scanbox failed to answer this request"), request)

    app.include_router(scans.router)
    app.include_router(system.router)
    pages.mount(app)
    app.add_middleware(Guard)
    return app
