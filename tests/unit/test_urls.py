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
        "http://bücher.example/",
        "http://xn--bcher-kva.example/",
        "http://foo_bar.example/",
        "http://\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com/",  # full-width letters
        "http://example.test./",
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
        ("http://ex\u202eample.test/", "bidi"),
        ("http://example.test/invoice\u202efdp.exe", "bidi"),
        ("http://example.test/?q=\u2066x\u2069", "bidi"),
        ("http://example.test/\x9b31m", "C1"),
        ("http://a..b/", "not a valid name"),
        ("http://-a.example/", "not a valid name"),
        ("http://xn--a.example/", "punycode"),
        ("http://a\u200db.example/", "UTS 46"),
        ("http://" + "a" * 64 + ".example/", "not a valid name"),
        ("http://" + "a." * 127 + "example/", "longer than 253"),
    ],
)
def test_bad_urls(url: str, reason: str) -> None:
    with pytest.raises(InvalidURL, match=reason):
        validate_url(url)
