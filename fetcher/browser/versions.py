"""Whether Playwright's Chromium and the installed Chromium are the same major release.

Playwright speaks the DevTools protocol of the Chromium release it was built against (named in
its ``browsers.json``); it drives Debian's ``chromium-headless-shell`` instead of downloading
its own, which works only while the two have the same major version.

``python3 -m fetcher.browser.versions [--check]`` prints both as one JSON object; with
``--check`` it exits 1 when the majors differ.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

#: Where the browser image (and Debian's package) puts the headless shell's binary.
DEFAULT_CHROMIUM = "/usr/lib/chromium/chromium-headless-shell"
#: Environment variable naming another Chromium binary.
CHROMIUM_VARIABLE = "SCANBOX_CHROMIUM"
#: The entry of Playwright's browsers.json that names the headless shell it was built against.
PLAYWRIGHT_BROWSER_NAME = "chromium-headless-shell"
#: Longest a ``--version`` call may take.
VERSION_TIMEOUT_S = 30.0

_VERSION = re.compile(r"\b(\d+)\.(\d+)\.(\d+)\.(\d+)\b")


class Versions(NamedTuple):
    """The Playwright release, the Chromium it expects and the Chromium installed."""

    playwright: str
    playwright_chromium: str
    chromium: str

    @property
    def match(self) -> bool:
        """Whether the two Chromium versions have the same major."""
        return major(self.playwright_chromium) == major(self.chromium)


def major(version: str) -> int:
    """The major number of a Chromium version such as ``156.0.8078.114``."""
    found = _VERSION.search(version)
    if found is None:
        raise ValueError(f"not a Chromium version: {version!r}")
    return int(found.group(1))


def chromium_binary() -> str:
    """The Chromium binary to run: ``$SCANBOX_CHROMIUM`` or Debian's headless shell."""
    return os.environ.get(CHROMIUM_VARIABLE) or DEFAULT_CHROMIUM


def playwright_chromium_version(browsers_json: str) -> str:
    """The headless shell version named in the text of Playwright's ``browsers.json``."""
    for browser in json.loads(browsers_json)["browsers"]:
        if browser.get("name") == PLAYWRIGHT_BROWSER_NAME:
            return str(browser["browserVersion"])
    raise ValueError(f"no {PLAYWRIGHT_BROWSER_NAME} in browsers.json")


def installed_chromium_version(binary: str) -> str:
    """The version the Chromium at ``binary`` reports, e.g. ``156.0.8078.114``."""
    result = subprocess.run(
        [binary, "--version"],
        capture_output=True,
        text=True,
        timeout=VERSION_TIMEOUT_S,
        check=True,
    )
    found = _VERSION.search(result.stdout)
    if found is None:
        raise ValueError(f"{binary} --version printed no version: {result.stdout!r}")
    return found.group(0)


def current_versions(*, binary: str) -> Versions:
    """The versions of the Playwright package importable here and of ``binary``."""
    from importlib.metadata import version  # noqa: PLC0415 (only this path needs it)

    import playwright  # noqa: PLC0415 (the same)

    package = Path(next(iter(playwright.__path__)))
    browsers = (package / "driver" / "package" / "browsers.json").read_text()
    return Versions(
        playwright=version("playwright"),
        playwright_chromium=playwright_chromium_version(browsers),
        chromium=installed_chromium_version(binary),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Print the versions; with ``--check``, exit 1 when the majors differ."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    versions = current_versions(binary=chromium_binary())
    print(json.dumps({**versions._asdict(), "match": versions.match}, sort_keys=True))
    if "--check" in arguments and not versions.match:
        print(
            f"Playwright {versions.playwright} is built for Chromium "
            f"{versions.playwright_chromium}, but {versions.chromium} is installed",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
