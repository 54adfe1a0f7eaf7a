from __future__ import annotations

import pytest

from worker.errors import InvalidURL
from worker.urls import normalise_url, url_host


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("http://127.0.0.1/", "http://127.0.0.1/"),
        ("HTTP://Example.ORG", "http://example.org/"),
        ("http://example.org:80/a", "http://example.org/a"),
        ("https://example.org:443/a", "https://example.org/a"),
        ("https://example.org:8443/a", "https://example.org:8443/a"),
        ("http://example.org:443/a", "http://example.org:443/a"),
        ("http://example.org./a", "http://example.org/a"),
        ("http://example.org/a#section", "http://example.org/a"),
        ("http://example.org/a/./b/../c", "http://example.org/a/c"),
        ("http://example.org/a/b/..", "http://example.org/a/"),
        ("http://example.org/../../a", "http://example.org/a"),
        ("http://example.org/%7euser/%2f%3F", "http://example.org/~user/%2F%3F"),
        ("http://example.org/?b=2&a=1", "http://example.org/?b=2&a=1"),
        ("http://example.org/p?q=%7e%2b", "http://example.org/p?q=~%2B"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("http://[::1]:80/x", "http://[::1]/x"),
        ("http://Bücher.example/", "http://xn--bcher-kva.example/"),
        ("  http://example.org/  ", "http://example.org/"),
    ],
)
def test_equivalent_spellings_normalise_to_one(url: str, normalised: str) -> None:
    assert normalise_url(url) == normalised
    assert normalise_url(normalised) == normalised


def test_different_resources_stay_different() -> None:
    urls = [
        "http://example.org/a",
        "http://example.org/A",
        "https://example.org/a",
        "http://example.org/a/",
        "http://example.org/a?x=1",
        "http://example.org:8080/a",
        "http://www.example.org/a",
    ]
    assert len({normalise_url(url) for url in urls}) == len(urls)


def test_a_url_that_cannot_be_submitted_cannot_be_normalised() -> None:
    with pytest.raises(InvalidURL):
        normalise_url("ftp://example.org/")


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://Example.ORG:8080/x", "example.org"),
        ("https://example.org./", "example.org"),
        ("http://127.0.0.2:9/", "127.0.0.2"),
        ("http://[::1]/", "::1"),
        ("http://Bücher.example/", "xn--bcher-kva.example"),
    ],
)
def test_url_host_is_the_key_per_host_limits_use(url: str, host: str) -> None:
    assert url_host(url) == host
