"""``/v1/scans``: submit, search, and one scan's job, audit trail and artifacts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from worker.api.artifacts import ARTIFACT_NAME
from worker.api.auth import Caller, needs, parts_of
from worker.api.filters import SearchParams, parse_filters
from worker.api.parts import ApiParts
from worker.api.problems import PROBLEM_MEDIA_TYPE, Problem
from worker.api.schemas import (
    ArtifactList,
    AuditDocument,
    JobDocument,
    ProblemDocument,
    ScanRequest,
    SearchPage,
    SubmitResponse,
)
from worker.api.submitting import submit
from worker.documents import audit_dict, finite, job_dict
from worker.store import queries
from worker.store.requests import job_request_ids, request_ids_of
from worker.store.search import MAX_PAGE, search_jobs

#: Jobs a page holds unless ``limit`` says otherwise.
DEFAULT_PAGE = 50
#: What an artifact answer says about its body: a download, never rendered, never sniffed.
DOWNLOAD_CSP = "sandbox; default-src 'none'"


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "model": ProblemDocument,
            "content": {PROBLEM_MEDIA_TYPE: {}},
            "description": "A problem document (RFC 9457).",
        }
        for status in statuses
    }


#: What a route about one scan may answer besides its own document.
ONE_SCAN_PROBLEMS = _problems(401, 403, 404, 429)

router = APIRouter(prefix="/v1/scans", tags=["scans"])
Reader = Annotated[Caller, Depends(needs("read"))]
Submitter = Annotated[Caller, Depends(needs("submit"))]


def _known_scan(request: Request, job_id: str) -> ApiParts:
    """The API's parts, once ``job_id`` is known to be a scan (``UnknownJob`` if not)."""
    parts = parts_of(request)
    queries.get_job(parts.db, job_id)
    return parts


@router.post(
    "",
    status_code=201,
    response_model=SubmitResponse,
    responses={
        200: {
            "model": SubmitResponse,
            "description": "Every URL was a duplicate, or a request id submitted before.",
        },
        **_problems(401, 403, 413, 422, 429, 503),
    },
    summary="Submit one URL or a batch",
)
def post_scans(body: ScanRequest, request: Request, caller: Submitter) -> JSONResponse:
    """Store one QUEUED job per new URL: 201 with the jobs, or 200 when every URL was a
    duplicate (each has ``duplicate: true``; a request id submitted before also has
    ``repeated: true`` and its first job). One bad URL, callback URL, request id, depth or
    max_children refuses the whole submission (422, the CLI's own message) and stores
    nothing; so does a full queue (503, ``Retry-After``)."""
    submissions = submit(parts_of(request), body)
    new = [item for item in submissions if not item.duplicate]
    document = SubmitResponse.model_validate(
        {
            "scans": [
                {
                    "id": item.job_id,
                    "url": item.url,
                    "state": item.state.value,
                    "duplicate": item.duplicate,
                    "repeated": item.repeated,
                    "request_id": item.request_id,
                }
                for item in submissions
            ]
        }
    )
    headers = {}
    if body.url is not None and new:
        headers["Location"] = f"/v1/scans/{new[0].job_id}"
    return JSONResponse(document.model_dump(), status_code=201 if new else 200, headers=headers)


@router.get(
    "",
    response_model=SearchPage,
    responses=_problems(400, 401, 403, 422, 429),
    summary="Search scans, newest first",
)
def get_scans(
    request: Request,
    _caller: Reader,
    *,
    state: str | None = None,
    verdict: str | None = None,
    host: Annotated[str | None, Query(description="The submitted URL's host.")] = None,
    final_host: Annotated[str | None, Query(description="The host after redirects.")] = None,
    peer: Annotated[str | None, Query(description="An address the scan connected to.")] = None,
    sha256: Annotated[str | None, Query(description="SHA-256 of the body.")] = None,
    since: Annotated[str | None, Query(description="Created at or after (ISO 8601).")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the page before.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> JSONResponse:
    """A page of the scans every given filter matches; ``next_cursor`` leads to the next."""
    parts = parts_of(request)
    filters = parse_filters(
        SearchParams(
            state=state,
            verdict=verdict,
            host=host,
            final_host=final_host,
            peer=peer,
            sha256=sha256,
            since=since,
        )
    )
    after = None if cursor is None else parts.cursors.decode(cursor, filters=filters)
    page = search_jobs(parts.db, filters=filters, after=after, limit=limit)
    request_ids = request_ids_of(parts.db, [job.id for job in page.jobs])
    return JSONResponse(
        finite(
            {
                "items": [
                    job_dict(job, page.results.get(job.id), request_ids=request_ids.get(job.id, []))
                    for job in page.jobs
                ],
                "next_cursor": None
                if page.next is None
                else parts.cursors.encode(page.next, filters=filters),
                "limit": limit,
            }
        )
    )


@router.get(
    "/{job_id}",
    response_model=JobDocument,
    responses=ONE_SCAN_PROBLEMS,
    summary="One scan",
)
def get_scan(job_id: str, request: Request, _caller: Reader) -> JSONResponse:
    """The job as ``scanbox status --json`` prints it: state, version, attempts, timestamps,
    limits, the result with its verdict (null until there is one), and its request ids."""
    db = parts_of(request).db
    job, result = queries.get_job_and_result(db, job_id)
    request_ids = job_request_ids(db, job_id)
    return JSONResponse(finite(job_dict(job, result, request_ids=request_ids)))


@router.get(
    "/{job_id}/audit",
    response_model=AuditDocument,
    responses=ONE_SCAN_PROBLEMS,
    summary="One scan's audit trail",
)
def get_audit(job_id: str, request: Request, _caller: Reader) -> JSONResponse:
    """Every state transition of the job, oldest first."""
    db = _known_scan(request, job_id).db
    audit = [audit_dict(row) for row in queries.get_audit(db, job_id)]
    return JSONResponse(finite({"id": job_id, "audit": audit}))


@router.get(
    "/{job_id}/artifacts",
    response_model=ArtifactList,
    responses=ONE_SCAN_PROBLEMS,
    summary="One scan's artifacts",
)
def list_artifacts(job_id: str, request: Request, _caller: Reader) -> JSONResponse:
    """The artifacts the scan has, each with the path to download it."""
    parts = _known_scan(request, job_id)
    artifacts = [
        {
            "name": info.name,
            "media_type": info.media_type,
            "size": info.size,
            "href": f"/v1/scans/{job_id}/artifacts/{info.name}",
        }
        for info in parts.artifacts.list(job_id)
    ]
    return JSONResponse({"id": job_id, "artifacts": artifacts})


@router.get(
    "/{job_id}/artifacts/{name}",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The artifact."},
        **ONE_SCAN_PROBLEMS,
    },
    summary="Download one artifact",
)
def get_artifact(job_id: str, name: str, request: Request, _caller: Reader) -> Response:
    """The artifact's bytes, always as a download (``Content-Disposition: attachment``,
    ``Content-Security-Policy: sandbox``, ``X-Content-Type-Options: nosniff``)."""
    parts = _known_scan(request, job_id)
    artifact = parts.artifacts.read(job_id, name) if ARTIFACT_NAME.fullmatch(name) else None
    if artifact is None:
        raise Problem("unknown-artifact", f"scan {job_id} has no artifact {name[:64]!r}")
    return Response(
        artifact.data,
        media_type=artifact.info.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{job_id}-{artifact.info.name}"',
            "Content-Security-Policy": DOWNLOAD_CSP,
            "X-Content-Type-Options": "nosniff",
        },
    )
