"""The check that Playwright's Chromium and the installed one are the same major."""

from __future__ import annotations

import json

import pytest

from fetcher.browser.versions import Versions, major, playwright_chromium_version

BROWSERS_JSON = json.dumps(
    {
        "browsers": [
            {"name": "chromium", "browserVersion": "156.0.8078.4"},
            {"name": "chromium-headless-shell", "browserVersion": "156.0.8078.4"},
            {"name": "firefox", "browserVersion": "157.0"},
        ]
    }
)


def test_the_headless_shell_version_is_read_from_browsers_json() -> None:
    assert playwright_chromium_version(BROWSERS_JSON) == "156.0.8078.4"
    with pytest.raises(ValueError, match="headless"):
        playwright_chromium_version(json.dumps({"browsers": []}))


def test_majors_are_compared() -> None:
    assert major("Chromium 156.0.8078.114 built on Debian") == 156
    assert Versions("1.64.1", "156.0.8078.4", "156.0.8078.114").match
    assert not Versions("1.65.2", "159.0.1.2", "156.0.8078.114").match
    with pytest.raises(ValueError, match="version"):
        major("156")
