"""The web pages: scans listed and searched, one scan in full, a submit form, and login.

Server-rendered with Jinja2 (every value escaped, and text from pages and submitters shown
with its control and bidi characters as visible escapes), no build step. The only script is
``static/live.js`` under ``script-src 'self'``: while a job on the page is not terminal it
fetches the page again and puts the new ``<main>`` in place. Login takes a key of scope
``read`` or wider and keeps it in an HttpOnly, SameSite=Strict cookie; forms that change
something carry a CSRF token (``worker.api.forms``) and must come from this origin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from statemachine.states import TERMINAL
from worker.api.auth import COOKIE, Caller, check_key, parts_of
from worker.api.filters import SearchParams, parse_filters
from worker.api.forms import same_origin
from worker.api.problems import Problem, problem_for
from worker.api.schemas import ScanRequest
from worker.api.submitting import submit
from worker.documents import iso
from worker.errors import ScanboxError
from worker.printable import printable
from worker.store import queries
from worker.store.search import search_jobs

HERE = Path(__file__).resolve().parent
#: What a page may load: its own scripts, styles and images; no inline script, no frames.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: Jobs a list page shows.
PAGE_SIZE = 50

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["iso"] = iso
# Text from a page, a URL or a submitter shows every character it holds: a bidi override or a
# control character appears as its escape (as on a terminal), never reorders or hides text.
templates.filters["shown"] = printable


def render(
    template: str, *, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    """A page, with the pages' Content-Security-Policy."""
    body = templates.get_template(template).render(terminal={s.value for s in TERMINAL}, **context)
    return HTMLResponse(
        body, status_code=status, headers={"Content-Security-Policy": PAGE_CSP, **(headers or {})}
    )


def _caller(request: Request, *, scope: str = "read") -> Caller | Response:
    """The logged-in caller, or the answer to send instead (the login page, an error page)."""
    try:
        return check_key(request, request.cookies.get(COOKIE), scope=scope)
    except Problem as problem:
        if problem.slug == "unauthenticated":
            return RedirectResponse("/login", status_code=303)
        return _error_page(problem, None, request)


def _error_page(problem: Problem, caller: Caller | None, request: Request) -> HTMLResponse:
    """A problem, as a page with its status."""
    return render(
        "error.html",
        status=problem.status,
        headers=problem.headers,
        problem=problem.document(instance=request.url.path),
        caller=caller,
        csrf=_csrf(request, caller),
    )


def _csrf(request: Request, caller: Caller | None) -> str:
    """The CSRF token of ``caller``'s forms (none before login)."""
    return "" if caller is None else parts_of(request).forms.token(caller.key_id)


def _posted_by_page(request: Request, caller: Caller, token: str) -> Problem | None:
    """Why a form post is refused, if it is."""
    if not same_origin(request.headers, host=request.headers.get("host", "")):
        return Problem("forbidden-origin", "the form was posted from another site")
    if not parts_of(request).forms.valid(caller.key_id, token):
        return Problem("forbidden-origin", "the form's token is missing or stale: reload it")
    return None


async def home() -> RedirectResponse:
    """``/``: the list of scans."""
    return RedirectResponse("/scans", status_code=303)


def list_page(request: Request) -> Response:
    """Scans, newest first, with the search's filters."""
    caller = _caller(request)
    if not isinstance(caller, Caller):
        return caller
    parts = parts_of(request)
    query = request.query_params
    params = SearchParams(
        **{name: query.get(name) or None for name in SearchParams.__dataclass_fields__}
    )
    try:
        filters = parse_filters(params)
        cursor = query.get("cursor")
        after = None if not cursor else parts.cursors.decode(cursor, filters=filters)
        page = search_jobs(parts.db, filters=filters, after=after, limit=PAGE_SIZE)
    except ScanboxError as error:
        return _error_page(problem_for(error), caller, request)
    older = None
    if page.next is not None:
        older = parts.cursors.encode(page.next, filters=filters)
    return render(
        "list.html",
        caller=caller,
        csrf=_csrf(request, caller),
        jobs=page.jobs,
        results=page.results,
        params=params,
        older=older,
        query={name: value for name, value in query.items() if name != "cursor"},
    )


def scan_page(job_id: str, request: Request) -> Response:
    """One scan in full: verdict and reasons, the screenshot, redirects, requests, the egress
    proxy's connections, audit trail, artifacts."""
    caller = _caller(request)
    if not isinstance(caller, Caller):
        return caller
    parts = parts_of(request)
    try:
        job = queries.get_job(parts.db, job_id)
    except ScanboxError as error:
        return _error_page(problem_for(error), caller, request)
    result = queries.get_result(parts.db, job_id)
    report: dict[str, Any] = result.report if result is not None else {}
    artifacts = parts.artifacts.list(job_id)
    return render(
        "scan.html",
        caller=caller,
        csrf=_csrf(request, caller),
        job=job,
        result=result,
        previous=queries.get_previous_result(parts.db, result),
        redirects=report.get("redirects") or [],
        requests=report.get("requests") or [],
        audit=queries.get_audit(parts.db, job_id),
        artifacts=artifacts,
        screenshot=next((item for item in artifacts if item.name == "screenshot"), None),
    )


def submit_form(request: Request) -> Response:
    """The submit form."""
    caller = _caller(request)
    if not isinstance(caller, Caller):
        return caller
    return render("submit.html", caller=caller, csrf=_csrf(request, caller), urls="", error=None)


def submit_post(
    request: Request,
    urls: Annotated[str, Form()] = "",
    priority: Annotated[str, Form()] = "normal",
    force: Annotated[bool, Form()] = False,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Submit the form's URLs (one a line); to the scan's page, or the list for a batch."""
    caller = _caller(request, scope="submit")
    if not isinstance(caller, Caller):
        return caller
    refused = _posted_by_page(request, caller, csrf)
    if refused is not None:
        return _error_page(refused, caller, request)
    lines = [line.strip() for line in urls.splitlines() if line.strip()]
    try:
        submissions = submit(
            parts_of(request),
            ScanRequest(urls=lines or [""], priority=priority, force=force),
        )
    except ScanboxError as error:
        problem = problem_for(error)
        return render(
            "submit.html",
            status=problem.status,
            headers=problem.headers,
            caller=caller,
            csrf=_csrf(request, caller),
            urls=urls,
            error=problem.detail,
        )
    target = f"/scans/{submissions[0].job_id}" if len(submissions) == 1 else "/scans"
    return RedirectResponse(target, status_code=303)


def login_form(request: Request) -> Response:
    """The login form."""
    return render("login.html", caller=None, csrf="", error=None)


def login_post(request: Request, key: Annotated[str, Form()] = "") -> Response:
    """Check the key, then keep it in the login cookie."""
    if not same_origin(request.headers, host=request.headers.get("host", "")):
        return _error_page(
            Problem("forbidden-origin", "the form came from another site"), None, request
        )
    try:
        check_key(request, key.strip(), scope="read")
    except Problem as problem:
        return render(
            "login.html", status=problem.status, caller=None, csrf="", error=problem.detail
        )
    answer = RedirectResponse("/scans", status_code=303)
    answer.set_cookie(
        COOKIE,
        key.strip(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return answer


def logout_post(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    """Forget the login cookie (a form with its CSRF token)."""
    caller = _caller(request)
    if not isinstance(caller, Caller):
        return caller
    refused = _posted_by_page(request, caller, csrf)
    if refused is not None:
        return _error_page(refused, caller, request)
    answer = RedirectResponse("/login", status_code=303)
    answer.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return answer


def mount(app: FastAPI) -> None:
    """Add the pages and their static files to ``app`` (left out of the OpenAPI document)."""
    for path, endpoint, methods in (
        ("/", home, ["GET"]),
        ("/scans", list_page, ["GET"]),
        ("/scans/{job_id}", scan_page, ["GET"]),
        ("/submit", submit_form, ["GET"]),
        ("/submit", submit_post, ["POST"]),
        ("/login", login_form, ["GET"]),
        ("/login", login_post, ["POST"]),
        ("/logout", logout_post, ["POST"]),
    ):
        app.add_api_route(
            path, endpoint, methods=methods, include_in_schema=False, response_model=None
        )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
