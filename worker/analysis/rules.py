"""Turning a fetcher report into a verdict: rules, each adding to a score, plus the policy."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from worker.analysis.policy import Policy
from worker.analysis.report import FetchReport

Verdict = Literal["benign", "suspicious", "malicious"]

#: Score from which a URL is judged suspicious.
SUSPICIOUS_FROM = 30
#: Score from which a URL is judged malicious.
MALICIOUS_FROM = 70
#: Redirect chains at least this long are a reason for suspicion.
LONG_REDIRECT_CHAIN = 3
#: Certificates expiring sooner than this many days are a reason for suspicion.
CERT_EXPIRY_SOON_DAYS = 7


@dataclass(frozen=True, kw_only=True)
class Reason:
    """One rule that fired: its name, what it added to the score, and why."""

    rule: str
    score: int
    message: str

    def as_dict(self) -> dict[str, object]:
        """The reason as stored with the result."""
        return {"rule": self.rule, "score": self.score, "message": self.message}


@dataclass(frozen=True, kw_only=True)
class Judgement:
    """The verdict on one report: the label, the score (0-100), and the reasons."""

    verdict: Verdict
    score: int
    reasons: tuple[Reason, ...]


Rule = Callable[[FetchReport], Iterator[Reason]]


def _host(url: str | None) -> str:
    return (urlsplit(url).hostname or "") if url else ""


def _fetch_failed(report: FetchReport) -> Iterator[Reason]:
    if report.error is None:
        return
    if report.error.code == "blocked":
        yield Reason(rule="blocked_target", score=40, message=report.error.message)
    else:
        yield Reason(
            rule="fetch_failed", score=0, message=f"{report.error.code}: {report.error.message}"
        )


def _password_forms(report: FetchReport) -> Iterator[Reason]:
    for form in report.observations.forms:
        if not form.has_password:
            continue
        if form.cross_origin:
            yield Reason(
                rule="password_form_cross_origin",
                score=50,
                message=f"password form posts to another host: {form.action_host}",
            )
        elif form.insecure_action:
            yield Reason(
                rule="password_form_insecure",
                score=30,
                message="password form submits over plain http",
            )
        else:
            yield Reason(rule="password_form", score=10, message="page asks for a password")


def _downloads(report: FetchReport) -> Iterator[Reason]:
    download = report.observations.download
    if download.executable:
        name = f" ({download.filename})" if download.filename else ""
        yield Reason(rule="executable_download", score=50, message=f"serves an executable{name}")
    elif download.attachment:
        yield Reason(rule="attachment", score=10, message="serves a file as an attachment")


def _host_facts(report: FetchReport) -> Iterator[Reason]:
    host = report.observations.host
    if host.ip_literal:
        yield Reason(rule="ip_literal_host", score=20, message="host is a bare IP address")
    if host.punycode:
        shown = f" ({host.unicode})" if host.unicode else ""
        yield Reason(rule="punycode_host", score=20, message=f"host is an IDN/punycode name{shown}")


def _redirects(report: FetchReport) -> Iterator[Reason]:
    hops = len(report.redirects)
    if hops >= LONG_REDIRECT_CHAIN:
        yield Reason(rule="long_redirect_chain", score=15, message=f"{hops} redirects")
    requested, final = _host(report.requested_url), _host(report.final_url)
    if final and requested and final != requested:
        yield Reason(
            rule="cross_host_redirect", score=5, message=f"redirected from {requested} to {final}"
        )
    page_host = final or requested
    targets = [report.observations.meta_refresh, *report.observations.script_redirects]
    for target in targets:
        if target and _host(target) and _host(target) != page_host:
            yield Reason(
                rule="client_redirect", score=15, message=f"page sends the browser to {target}"
            )
            break


def _page_content(report: FetchReport) -> Iterator[Reason]:
    observations = report.observations
    if observations.mixed_content:
        yield Reason(
            rule="mixed_content",
            score=10,
            message=f"{len(observations.mixed_content)} http resource(s) on an https page",
        )
    if observations.iframes.hosts:
        yield Reason(
            rule="external_iframes",
            score=10,
            message="embeds frames from " + ", ".join(observations.iframes.hosts[:5]),
        )


def _certificate(report: FetchReport) -> Iterator[Reason]:
    if report.tls is not None and report.tls.days_to_expiry < CERT_EXPIRY_SOON_DAYS:
        yield Reason(
            rule="certificate_expiring",
            score=10,
            message=f"certificate expires in {report.tls.days_to_expiry:.1f} days",
        )


#: The rules, in the order their reasons are listed.
RULES: tuple[Rule, ...] = (
    _fetch_failed,
    _password_forms,
    _downloads,
    _host_facts,
    _redirects,
    _page_content,
    _certificate,
)


def judge(report: FetchReport, *, policy: Policy | None = None) -> Judgement:
    """Judge one report: policy lists first, then the rules' summed score."""
    policy = policy or Policy()
    hosts = {_host(report.requested_url), _host(report.final_url)}
    hosts |= {_host(hop.url) for hop in report.redirects}
    hosts.discard("")
    sha256 = report.body.sha256 if report.body else None
    if sha256 and sha256 in policy.blocked_hashes:
        reason = Reason(rule="blocked_hash", score=100, message=f"body sha256 {sha256} is blocked")
        return Judgement(verdict="malicious", score=100, reasons=(reason,))
    blocked = sorted(host for host in hosts if policy.domain_blocked(host))
    if blocked:
        reason = Reason(
            rule="blocked_domain", score=100, message="blocked domain: " + ", ".join(blocked)
        )
        return Judgement(verdict="malicious", score=100, reasons=(reason,))
    if hosts and all(policy.domain_allowed(host) for host in hosts):
        reason = Reason(rule="allowed_domain", score=0, message="every host is on the allow list")
        return Judgement(verdict="benign", score=0, reasons=(reason,))
    return summed(tuple(reason for rule in RULES for reason in rule(report)))


def summed(reasons: tuple[Reason, ...]) -> Judgement:
    """The judgement of ``reasons``: their summed score (at most 100) and its verdict."""
    score = min(100, sum(reason.score for reason in reasons))
    verdict: Verdict = "benign"
    if score >= MALICIOUS_FROM:
        verdict = "malicious"
    elif score >= SUSPICIOUS_FROM:
        verdict = "suspicious"
    return Judgement(verdict=verdict, score=score, reasons=reasons)
