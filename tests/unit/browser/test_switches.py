"""Chromium's switches: every way out but the proxy closed."""

from __future__ import annotations

from fetcher.browser.chromium import context_options, launch_switches
from fetcher.browser.options import BrowserOptions


def test_the_proxy_is_the_only_way_out() -> None:
    switches = launch_switches(proxy_url="http://127.0.0.1:4000", proxy_host="127.0.0.1")

    assert "--proxy-server=http://127.0.0.1:4000" in switches
    assert "--proxy-bypass-list=<-loopback>" in switches
    assert "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1" in switches
    assert "--force-webrtc-ip-handling-policy=disable_non_proxied_udp" in switches
    assert "--disable-quic" in switches
    assert "--disable-background-networking" in switches


def test_service_workers_are_blocked_and_downloads_kept_for_hashing() -> None:
    settings = context_options(BrowserOptions(proxy_socket="s"))

    assert settings["service_workers"] == "block"
    assert settings["accept_downloads"] is True
    assert settings["ignore_https_errors"] is False
