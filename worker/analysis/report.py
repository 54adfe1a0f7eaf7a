"""The fetcher's report, as the worker accepts it: one JSON object, validated field by field.

A container's output is untrusted data: it is parsed by pydantic's JSON parser (no code, no
pickle, no ``eval``), bounded in size before parsing, and every field is typed and bounded.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from worker.errors import InvalidOutput

#: Longest string accepted in any field of a report.
MAX_STRING = 4096
#: Longest list accepted in any field of a report.
MAX_ITEMS = 200

Text = Annotated[str, StringConstraints(max_length=MAX_STRING)]
Host = Annotated[str, StringConstraints(max_length=300)]
Count = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    # No NaN or infinities: JSON can't hold them, and PostgreSQL's json type refuses them.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Redirect(_Strict):
    url: Text
    status_code: Annotated[int, Field(ge=100, le=999)]
    location: Text


class Body(_Strict):
    size: Count
    truncated: bool
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None
    encoding: Text | None


class Peer(_Strict):
    address: Host
    port: Annotated[int, Field(ge=0, le=65535)]


class TLSInfo(_Strict):
    version: Text
    cipher: Text
    subject_cn: Text | None
    issuer_cn: Text | None
    issuer_o: Text | None
    san: Annotated[list[Text], Field(max_length=MAX_ITEMS)]
    not_before: Text
    not_after: Text
    days_to_expiry: float
    serial: Text | None


class Timings(_Strict):
    total_ms: Annotated[float, Field(ge=0)]
    startup_ms: float | None
    connect_ms: float | None
    ttfb_ms: float | None


FetchErrorCode = Literal[
    "bad_url",
    "blocked",
    "dns",
    "refused",
    "unreachable",
    "timeout",
    "tls",
    "redirect_limit",
    "protocol",
    "connection",
]


class FetchFailure(_Strict):
    code: FetchErrorCode
    message: Text
    url: Text


class Form(_Strict):
    action: Text | None
    action_host: Host | None
    method: Literal["get", "post"]
    has_password: bool
    cross_origin: bool
    insecure_action: bool


class Scripts(_Strict):
    inline_count: Count
    external_count: Count
    external_hosts: Annotated[list[Host], Field(max_length=MAX_ITEMS)]


class Iframes(_Strict):
    count: Count
    hosts: Annotated[list[Host], Field(max_length=MAX_ITEMS)]


class Download(_Strict):
    attachment: bool
    filename: Text | None
    executable: bool


class HostFacts(_Strict):
    ip_literal: bool
    punycode: bool
    unicode: Text | None


class Links(_Strict):
    count: Count
    external_hosts: Annotated[list[Host], Field(max_length=MAX_ITEMS)]
    #: The first link to each origin other than the page's (absent from older fetchers).
    targets: Annotated[list[Text], Field(max_length=MAX_ITEMS)] = []


class Observations(_Strict):
    forms: Annotated[list[Form], Field(max_length=MAX_ITEMS)]
    scripts: Scripts
    iframes: Iframes
    meta_refresh: Text | None
    script_redirects: Annotated[list[Text], Field(max_length=MAX_ITEMS)]
    download: Download
    mixed_content: Annotated[list[Text], Field(max_length=MAX_ITEMS)]
    host: HostFacts
    links: Links


class FetchReport(_Strict):
    """Everything one fetch saw: the schema of the fetcher's stdout (``schema`` 1)."""

    schema_version: Literal[1] = Field(alias="schema")
    requested_url: Text
    final_url: Text | None
    status_code: Annotated[int, Field(ge=100, le=999)] | None
    reason: Text | None
    http_version: Text | None
    not_modified: bool
    redirects: Annotated[list[Redirect], Field(max_length=MAX_ITEMS)]
    headers: Annotated[
        dict[Annotated[str, StringConstraints(max_length=100)], Text], Field(max_length=MAX_ITEMS)
    ]
    content_type: Text | None
    charset: Text | None
    body: Body | None
    title: Text | None
    peer: Peer | None
    tls: TLSInfo | None
    timings: Timings
    attempts: Count
    error: FetchFailure | None
    observations: Observations


def parse_report(stdout: bytes) -> FetchReport:
    """Validate the fetcher's stdout as exactly one report, or raise ``InvalidOutput``."""
    if not stdout.strip():
        raise InvalidOutput("the fetcher printed nothing")
    try:
        stdout.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = stdout[error.start : error.start + 1]
        raise InvalidOutput(f"fetcher output is not UTF-8 (byte {error.start}: {bad!r})") from None
    try:
        return FetchReport.model_validate_json(stdout)
    except ValidationError as error:
        raise invalid_output(error, of="fetcher") from None


def invalid_output(error: ValidationError, *, of: str) -> InvalidOutput:
    """``InvalidOutput`` naming the first field ``error`` refused in the output ``of`` a
    program, and how many fields it refused."""
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return InvalidOutput(
        f"{of} output is not a valid report: {where}: {first['msg']}"
        f" ({error.error_count()} error(s))"
    )
