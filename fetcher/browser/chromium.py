"""How Chromium is started: every way out but the proxy closed, then one context for one page.

The container is the sandbox (Chromium's own needs user namespaces, which a locked-down
container does not have), and these switches are the second wall inside it:

- every request goes to the proxy, loopback included (``<-loopback>`` removes Chromium's
  implicit bypass of localhost), and the host resolver resolves nothing but the relay's address,
  so no name is ever looked up inside the container;
- WebRTC may use UDP only through a proxy (there is none for UDP, so none at all), QUIC is off,
  and the background services that call home (component updates, safe browsing, domain
  reliability, metrics) are off;
- service workers are blocked for the context (they outlive the page and can fetch on their
  own), and downloads are accepted into a temporary directory to be hashed, never opened;
- site isolation is off, so every frame of the page lives in one renderer whose DevTools
  session sees all of its requests, and a capture needs fewer processes.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, BrowserContext, Playwright

from fetcher.browser.options import BrowserOptions

#: Switches added to Playwright's own for every launch (see the module docstring).
LOCKDOWN_SWITCHES = (
    "--proxy-bypass-list=<-loopback>",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-sync",
    "--no-pings",
    "--disable-breakpad",
    "--metrics-recording-only",
    "--disable-dev-shm-usage",
    "--disable-site-isolation-trials",
    "--disable-features=IsolateOrigins,site-per-process,DnsOverHttps,MediaRouter,"
    "OptimizationHints,Translate,AutofillServerCommunication,InterestFeedContentSuggestions",
    "--mute-audio",
    "--no-first-run",
    "--no-default-browser-check",
)


def launch_switches(*, proxy_url: str, proxy_host: str) -> list[str]:
    """Chromium's command-line switches for a capture whose proxy is ``proxy_url``."""
    return [
        f"--proxy-server={proxy_url}",
        # Nothing resolves: a name that reached the resolver would mean a request that does
        # not go to the proxy. The relay's own address is an IP literal and stays reachable.
        f"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {proxy_host}",
        *LOCKDOWN_SWITCHES,
    ]


async def launch(
    playwright: Playwright, *, options: BrowserOptions, proxy_url: str, downloads: str
) -> Browser:
    """Start Chromium (headless, no sandbox of its own) behind the relay at ``proxy_url``."""
    return await playwright.chromium.launch(
        executable_path=options.chromium,
        headless=True,
        chromium_sandbox=False,
        args=launch_switches(proxy_url=proxy_url, proxy_host="127.0.0.1"),
        downloads_path=downloads,
        timeout=options.launch_timeout_ms,
        handle_sigint=False,
        handle_sigterm=False,
        handle_sighup=False,
    )


def context_options(options: BrowserOptions) -> dict[str, Any]:
    """Keyword arguments of ``Browser.new_context`` for one capture."""
    settings: dict[str, Any] = {
        "service_workers": "block",
        "accept_downloads": True,
        "viewport": {"width": options.viewport_width, "height": options.viewport_height},
        "ignore_https_errors": options.ignore_tls_errors,
    }
    if options.user_agent is not None:
        settings["user_agent"] = options.user_agent
    return settings


async def new_context(browser: Browser, *, options: BrowserOptions) -> BrowserContext:
    """The one browser context a capture uses."""
    return await browser.new_context(**context_options(options))
