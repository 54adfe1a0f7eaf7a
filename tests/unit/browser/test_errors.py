"""Chromium's net errors in the fetcher's vocabulary."""

from __future__ import annotations

import pytest

from fetcher.browser.errors import error_code, net_error


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("page.goto: net::ERR_TUNNEL_CONNECTION_FAILED at https://x.test/", "blocked"),
        ("net::ERR_NAME_NOT_RESOLVED at http://x.test/", "dns"),
        ("net::ERR_CONNECTION_REFUSED", "refused"),
        ("net::ERR_CERT_AUTHORITY_INVALID at https://x.test/", "tls"),
        ("net::ERR_SSL_PROTOCOL_ERROR", "tls"),
        ("net::ERR_TOO_MANY_REDIRECTS", "redirect_limit"),
        ("net::ERR_EMPTY_RESPONSE", "protocol"),
        ("net::ERR_TIMED_OUT", "timeout"),
        ("net::ERR_SOMETHING_NEW", "connection"),
        ("Target page, context or browser has been closed", "connection"),
    ],
)
def test_each_net_error_has_a_code(message: str, code: str) -> None:
    assert error_code(message) == code


def test_the_net_error_name_is_found_in_a_message() -> None:
    assert net_error("page.goto: net::ERR_ABORTED; maybe frame was detached?") == "ERR_ABORTED"
    assert net_error("no error here") is None
