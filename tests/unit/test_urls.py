from __future__ import annotations

import pytest

from worker.errors import InvalidURL
from worker.urls import MAX_URL_LENGTH, validate_url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "https://example.test/path?q=1#f",
        "http://[::1]:8080/",
        "  http://a.b/  ",
    ],
)
def test_good_urls(url: str) -> None:
    assert validate_url(url) == url.strip()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "empty"),
        ("ftp://example.test/", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("example.test", "scheme"),
        ("http://", "no host"),
        ("http:///path", "no host"),
        ("http://a b/", "white space"),
        ("http://example.test:99999/", "out of range"),
        ("http://example.test:0/", "port 0"),
        ("http://user:pw@example.test/", "credentials"),
        ("http://example.test/" + "a" * MAX_URL_LENGTH, "longer"),
        ("http://exa\x00mple.test/", "control"),
    ],
)
def test_bad_urls(url: str, reason: str) -> None:
    with pytest.raises(InvalidURL, match=reason):
        validate_url(url)
