"""The API and its pages with a real worker scanning a page served on loopback: submitted
over HTTP and from the submit form in a real headless Chromium (Debian's, driven by
Playwright), polled to COMPLETED, a hostile title shown as text.

With ``SCANBOX_PAGE_SCREENSHOTS=DIR`` the test also writes the list and scan pages'
screenshots there (``docs/images/`` holds the committed ones).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apiserver import ApiServer, api_server, make_key
from tests.services import poll, worker_processes
from tests.sites import Site, serve
from worker.printable import printable
from worker.store.database import Database

#: Debian's headless Chromium (``chromium-headless-shell``, which scripts/setup.sh installs).
CHROMIUM = Path("/usr/bin/chromium-headless-shell")
#: A title that would run script, add markup and reorder text if it were ever markup.
HOSTILE_TITLE = (
    '</title></td><script>window.__pwned = 1; alert("title")</script>'
    '<img src=x onerror="window.__pwned = 2"><b>bold</b> \u202eevil'
)
#: Seconds a scan may take end to end here (a container start is under a second).
SCAN_DEADLINE_S = 90


def _hostile_page() -> bytes:
    from html import escape  # noqa: PLC0415

    return (
        f"<!doctype html><html><head><title>{escape(HOSTILE_TITLE, quote=False)}</title>"
        "</head><body><p>a page with a hostile title</p></body></html>"
    ).encode()


@pytest.fixture
def site() -> Iterator[Site]:
    with serve() as running:
        running.page("/hostile", _hostile_page())
        running.page("/plain", b"<!doctype html><title>A plain page</title><p>plain</p>")
        yield running


@pytest.fixture
def stack(scan_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[ApiServer, dict[str, str]]]:
    """A worker and the API over one database; yields the server and keys by scope."""
    env = {**scan_env, "API_SECRET": uuid.uuid4().hex, "DEDUP_WINDOW_MS": "0"}
    Database(url=env["TURSO_CONNECTION_URL"]).create_schema()
    keys = {
        scope: make_key(env["TURSO_CONNECTION_URL"], scope=scope)[1] for scope in ("read", "submit")
    }
    with worker_processes(env, tmp_path) as workers, api_server(env, tmp_path) as server:
        workers.start("--concurrency", "1")
        yield server, keys


def _completed(server: ApiServer, key: str, job_id: str) -> dict[str, object] | None:
    job = server.client(key).get(f"/v1/scans/{job_id}").json()
    if job["state"] in ("FAILED", "TIMED_OUT", "DISCARDED"):
        raise AssertionError(f"the scan ended {job['state']}: {job['error']}")
    return dict(job) if job["state"] == "COMPLETED" else None


def test_submit_then_poll_to_completed_with_a_real_worker(
    stack: tuple[ApiServer, dict[str, str]], site: Site
) -> None:
    server, keys = stack
    answer = server.client(keys["submit"]).post(
        "/v1/scans", json_body={"url": site.url("/hostile")}
    )
    assert answer.status == 201
    job_id = answer.json()["scans"][0]["id"]
    job = poll(
        lambda: _completed(server, keys["read"], job_id),
        timeout_s=SCAN_DEADLINE_S,
        what="the scan to complete",
        every_s=0.2,
    )
    result = job["result"]
    assert isinstance(result, dict)
    assert result["status_code"] == 200
    assert result["title"] == HOSTILE_TITLE
    assert result["final_url"] == site.url("/hostile")
    assert "/hostile" in site.hits
    audit = server.client(keys["read"]).get(f"/v1/scans/{job_id}/audit").json()["audit"]
    assert [row["to"] for row in audit] == ["QUEUED", "FETCHING", "ANALYZING", "COMPLETED"]
    found = server.client(keys["read"]).get("/v1/scans?peer=127.0.0.1&verdict=" + result["verdict"])
    assert job_id in [item["id"] for item in found.json()["items"]]


def test_the_pages_in_chromium_submit_and_turn_completed_without_a_reload(
    stack: tuple[ApiServer, dict[str, str]], site: Site, tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        from tests.services import unavailable  # noqa: PLC0415

        unavailable(f"{CHROMIUM} (Debian's chromium-headless-shell; run scripts/setup.sh)")
    from playwright.sync_api import ConsoleMessage, Dialog, sync_playwright  # noqa: PLC0415

    server, keys = stack
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 760})
            page = context.new_page()
            dialogs: list[str] = []
            refused: list[str] = []

            def on_dialog(dialog: Dialog) -> None:
                dialogs.append(dialog.message)
                dialog.dismiss()

            def on_console(message: ConsoleMessage) -> None:
                if "Content Security Policy" in message.text:
                    refused.append(message.text)

            page.on("dialog", on_dialog)
            page.on("console", on_console)
            page.goto(server.url("/scans"))
            assert page.url == server.url("/login")
            page.fill("#key", keys["submit"])
            page.click("#login")
            page.wait_for_url(server.url("/scans"))
            cookie = next(item for item in context.cookies() if item["name"] == "scanbox_key")
            assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
            assert page.evaluate("document.cookie") == ""

            page.goto(server.url("/submit"))
            page.fill("#urls", site.url("/hostile"))
            page.click("#submit")
            page.wait_for_url(server.url("/scans/") + "*")
            job_id = page.url.rsplit("/", 1)[1]
            navigations: list[str] = []
            page.on("framenavigated", lambda frame: navigations.append(frame.url))
            page.locator("#state").get_by_text("COMPLETED").wait_for(timeout=SCAN_DEADLINE_S * 1000)
            assert navigations == [], "the page reloaded"
            title = page.locator("td.title")
            # Shown as text, the bidi override as its escape (it would turn "evil" around).
            assert title.text_content() == printable(HOSTILE_TITLE)
            assert "\\u202eevil" in (title.text_content() or "")
            assert title.locator("script, img, b").count() == 0
            assert page.evaluate("window.__pwned") is None
            assert page.locator("#verdict .verdict").text_content() in (
                "benign",
                "suspicious",
                "malicious",
            )
            page.screenshot(path=str(shots / "scan-page.png"), full_page=True)

            # The list: a second scan submitted over the API shows up and completes live.
            other = server.client(keys["submit"]).post(
                "/v1/scans", json_body={"url": site.url("/plain")}
            )
            other_id = other.json()["scans"][0]["id"]
            page.goto(server.url("/scans"))
            row = page.locator(f'tr[data-job="{other_id}"]')
            assert row.count() == 1
            row.locator(".state-completed").wait_for(timeout=SCAN_DEADLINE_S * 1000)
            assert page.locator(f'tr[data-job="{job_id}"] .state-completed').count() == 1
            assert page.locator(f'tr[data-job="{job_id}"] td.url').text_content() == site.url(
                "/hostile"
            )
            page.screenshot(path=str(shots / "scan-list.png"), full_page=True)
            assert dialogs == []
            assert refused == []
        finally:
            browser.close()
    target = os.environ.get("SCANBOX_PAGE_SCREENSHOTS")
    if target:
        for shot in shots.iterdir():
            shutil.copy(shot, Path(target) / shot.name)
