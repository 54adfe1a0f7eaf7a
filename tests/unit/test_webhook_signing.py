"""Webhook signatures as the Standard Webhooks specification makes them, checked against the
specification's own test vector and a verifier written from its text."""

from __future__ import annotations

import base64
import re
import time
from typing import Any

import pytest
from pydantic import ValidationError

from tests.databases import REPOSITORY
from tests.producers import SignatureInvalid, verify_webhook
from worker.errors import ConfigurationError
from worker.settings import Settings
from worker.webhooks.signing import Signer, new_secret, parse_secret

#: The test vector of the specification's reference libraries (their ``sign`` test).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specifications_test_vector() -> None:
    signer = Signer(key=parse_secret(SPEC_SECRET))
    assert (
        signer.signature(message_id=SPEC_ID, timestamp=SPEC_TIMESTAMP, body=SPEC_BODY)
        == SPEC_SIGNATURE
    )


def test_headers_verify_with_a_verifier_written_from_the_spec() -> None:
    secret = new_secret()
    signer = Signer(key=parse_secret(secret))
    body = b'{"type":"scan.completed","data":{"title":"\\u00e9 <b>"}}'
    headers = signer.headers(message_id="msg_1", timestamp=1_800_000_000, body=body)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-timestamp"] == "1800000000"
    verify_webhook(secret=secret, headers=headers, body=body, now=1_800_000_010)
    with pytest.raises(SignatureInvalid, match="no v1 signature"):
        verify_webhook(secret=secret, headers=headers, body=body + b" ", now=1_800_000_010)
    with pytest.raises(SignatureInvalid, match="no v1 signature"):
        verify_webhook(secret=new_secret(), headers=headers, body=body, now=1_800_000_010)
    with pytest.raises(SignatureInvalid, match="tolerance"):
        verify_webhook(secret=secret, headers=headers, body=body, now=1_800_001_000)
    forged = {**headers, "webhook-id": "msg_2"}
    with pytest.raises(SignatureInvalid, match="no v1 signature"):
        verify_webhook(secret=secret, headers=forged, body=body, now=1_800_000_010)


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with whsec_"),
        ("whsec_not base64!", "followed by base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 bytes, not 5"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "24 to 64 bytes, not 65"),
    ],
)
def test_a_bad_secret_is_refused_without_being_quoted(secret: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as raised:
        parse_secret(secret)
    assert secret.removeprefix("whsec_") not in str(raised.value)


def test_the_key_never_shows_in_the_signers_repr() -> None:
    key = parse_secret(new_secret())
    assert key.hex() not in repr(Signer(key=key))
    assert str(key) not in repr(Signer(key=key))


def test_a_bad_secret_is_a_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", "whsec_short")
    with pytest.raises(ValidationError, match="WEBHOOK_SECRET"):
        Settings(_env_file=None)
    monkeypatch.setenv("WEBHOOK_SECRET", SPEC_SECRET)
    settings = Settings(_env_file=None)
    assert settings.webhook_secret is not None
    assert SPEC_SECRET not in repr(settings)


def test_the_verifier_on_the_producers_page_verifies_what_scanbox_signs() -> None:
    page = (REPOSITORY / "docs" / "producers.md").read_text()
    found = re.search(r"```python\n(import base64, hashlib, hmac, time\n.*?)```", page, re.DOTALL)
    assert found is not None
    namespace: dict[str, Any] = {}
    exec(found.group(1), namespace)  # the page's own example, run as a reader would
    verify = namespace["verify"]
    secret = new_secret()
    body = b'{"type":"scan.completed"}'
    headers = Signer(key=parse_secret(secret)).headers(
        message_id="msg_1", timestamp=int(time.time()), body=body
    )
    assert verify(secret, headers, body)
    assert not verify(secret, headers, body + b" ")
    assert not verify(new_secret(), headers, body)
    assert not verify(secret, {**headers, "webhook-timestamp": "1000"}, body)
