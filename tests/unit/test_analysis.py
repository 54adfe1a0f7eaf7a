from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import make_report
from worker.analysis.policy import Policy, PolicyFile
from worker.analysis.report import FetchReport
from worker.analysis.rules import judge
from worker.errors import ConfigurationError


def _report(**changes: object) -> FetchReport:
    return FetchReport.model_validate(make_report(**changes))


def _no_ip(**changes: object) -> FetchReport:
    return _report(
        observations__host={"ip_literal": False, "punycode": False, "unicode": None}, **changes
    )


def test_plain_page_is_benign() -> None:
    judgement = judge(_no_ip())
    assert (judgement.verdict, judgement.score, judgement.reasons) == ("benign", 0, ())


def test_cross_origin_password_form_is_suspicious() -> None:
    form = {
        "action": "http://collector.test/p",
        "action_host": "collector.test",
        "method": "post",
        "has_password": True,
        "cross_origin": True,
        "insecure_action": True,
    }
    judgement = judge(_no_ip(observations__forms=[form]))
    assert judgement.verdict == "suspicious"
    assert [reason.rule for reason in judgement.reasons] == ["password_form_cross_origin"]


def test_executable_download_on_ip_literal_with_redirects_is_malicious() -> None:
    hops = [{"url": f"http://127.0.0.1/{n}", "status_code": 302, "location": "x"} for n in range(3)]
    judgement = judge(
        _report(
            redirects=hops,
            observations__download={"attachment": True, "filename": "a.exe", "executable": True},
        )
    )
    assert judgement.verdict == "malicious"
    rules = {reason.rule for reason in judgement.reasons}
    assert {"executable_download", "ip_literal_host", "long_redirect_chain"} <= rules
    assert judgement.score == min(100, sum(reason.score for reason in judgement.reasons))


def test_policy_blocks_domains_and_hashes(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        '[domains]\nblock = ["bad.test"]\nallow = ["good.test"]\n'
        '[hashes]\nblock = ["' + "a" * 64 + '"]\n'
    )
    policy = Policy.load(path)
    blocked = judge(_no_ip(final_url="http://www.bad.test/"), policy=policy)
    assert (blocked.verdict, blocked.reasons[0].rule) == ("malicious", "blocked_domain")
    body = {"size": 1, "truncated": False, "sha256": "a" * 64, "encoding": None}
    assert judge(_no_ip(body=body), policy=policy).reasons[0].rule == "blocked_hash"
    allowed = judge(
        _no_ip(
            requested_url="http://good.test/",
            final_url="http://a.good.test/",
            observations__download={"attachment": True, "filename": "a.exe", "executable": True},
        ),
        policy=policy,
    )
    assert allowed.verdict == "benign"


def test_bad_policy_file_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[domains\n")
    with pytest.raises(ConfigurationError, match="policy file"):
        Policy.load(path)


def test_policy_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[domains]\nblock = ["one.test"]\n')
    source = PolicyFile(path)
    assert source.current().domain_blocked("www.one.test")
    path.write_text('[domains]\nblock = ["two.test", "three.test"]\n')
    assert source.current().domain_blocked("two.test")
    assert not source.current().domain_blocked("one.test")
    path.write_text("[domains\n")  # broken: the last good policy stays in force
    assert source.current().domain_blocked("two.test")


def test_missing_policy_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="policy file"):
        PolicyFile(tmp_path / "absent.toml")
