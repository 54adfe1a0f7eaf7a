"""The browser program on the host: real Chromium (Debian's headless shell), pages served by
the test on loopback, every request through the egress proxy's double on a Unix socket."""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from fetcher.browser.png import png_size
from fetcher.browser.versions import current_versions
from tests.browser import canary, decode_png, require_chromium, run_capture
from tests.proxydouble import ProxyDouble, proxy_double
from tests.services import poll
from tests.sites import Site, serve

PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f0e3a7"
    "0000000049454e44ae426082"
)


@pytest.fixture(autouse=True)
def chromium() -> str:
    return require_chromium()


@pytest.fixture
def site() -> Iterator[Site]:
    with serve() as served:
        yield served


@pytest.fixture
def proxy(tmp_path: Path, site: Site) -> Iterator[ProxyDouble]:
    with proxy_double(tmp_path, allowed_ports={site.port}) as double:
        yield double


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_scripted_page_gives_every_request_with_its_hash_and_a_screenshot(
    site: Site, proxy: ProxyDouble
) -> None:
    page = (
        b"<!doctype html><html><head><title>served</title></head><body>"
        b"<h1>Scripted</h1><img src='/pixel.png'>"
        b"<script>document.title = 'set by script';"
        b"fetch('/api').then(r => r.text()).then(t => console.log('api said ' + t));"
        b"document.cookie = 'seen=1; path=/';</script></body></html>"
    )
    api = b'{"answer": 42}'
    site.page("/", page, headers={"Set-Cookie": "server=abc; Path=/; HttpOnly"})
    site.page("/api", api, content_type="application/json")
    site.page("/pixel.png", PIXEL_PNG, content_type="image/png")

    capture = run_capture(site.url("/"), proxy_socket=proxy.socket_path)
    report = capture.report

    assert report["error"] is None
    assert report["complete"] is True
    assert report["title"] == "set by script"
    assert report["status"] == 200
    for path, body, kind in (
        ("/", page, "document"),
        ("/api", api, "fetch"),
        ("/pixel.png", PIXEL_PNG, "image"),
    ):
        [request] = capture.requests_to(path)
        assert request["sha256"] == sha256(body), path
        assert request["size"] == len(body)
        assert request["resource_type"] == kind
        assert request["status"] == 200
        assert request["frame"] == 0
    [api_request] = capture.requests_to("/api")
    assert api_request["initiator"]["type"] == "script"
    # Every request went through the proxy, and only those.
    assert {record.target for record in proxy.records} >= {
        site.url("/"),
        site.url("/api"),
        site.url("/pixel.png"),
    }
    assert all(record.allowed for record in proxy.records)
    assert any("api said" in message["text"] for message in report["console"])
    assert {cookie["name"] for cookie in report["cookies"]} == {"server", "seen"}
    # The screenshot decodes, and is the size the report states.
    shot = capture.artifacts["screenshot"]
    assert decode_png(shot) == png_size(shot)
    assert decode_png(shot) == (report["screenshot"]["width"], report["screenshot"]["height"])
    assert report["screenshot"]["width"] == 1280
    assert b"<title>set by script</title>" in capture.artifacts["dom"]
    har = json.loads(capture.artifacts["har"])
    assert har["log"]["version"] == "1.2"
    assert {entry["request"]["url"] for entry in har["log"]["entries"]} == {
        site.url("/"),
        site.url("/api"),
        site.url("/pixel.png"),
    }
    declared = {artifact["name"]: artifact for artifact in report["artifacts"]}
    for name, data in capture.artifacts.items():
        assert declared[name]["size"] == len(data)
        assert declared[name]["sha256"] == sha256(data)


def test_an_http_redirect_then_a_delayed_script_redirect_are_both_in_the_chain(
    site: Site, proxy: ProxyDouble
) -> None:
    site.page("/start", b"", status=302, headers={"Location": "/waiting"})
    site.page(
        "/waiting",
        b"<p>wait</p><script>setTimeout(() => { location.href = '/landed'; }, 2000);</script>",
    )
    site.page("/landed", b"<title>landed</title><p>here</p>")

    report = run_capture(site.url("/start"), proxy_socket=proxy.socket_path).report

    assert report["final_url"] == site.url("/landed")
    assert report["title"] == "landed"
    hops = [(hop["url"], hop["kind"]) for hop in report["redirects"]]
    assert hops == [
        (site.url("/start"), "initial"),
        (site.url("/waiting"), "http"),
        (site.url("/landed"), "script"),
    ]
    assert report["redirects"][1]["status"] == 302
    assert report["redirects"][2]["reason"] == "scriptInitiated"
    assert report["redirects"][1]["at_ms"] < report["redirects"][2]["at_ms"]


def test_a_meta_refresh_is_a_hop_of_its_own_kind(site: Site, proxy: ProxyDouble) -> None:
    site.page("/", b'<meta http-equiv="refresh" content="1;url=/refreshed"><p>old</p>')
    site.page("/refreshed", b"<title>new</title>")

    report = run_capture(site.url("/"), proxy_socket=proxy.socket_path).report

    assert [hop["kind"] for hop in report["redirects"]] == ["initial", "meta_refresh"]
    assert report["final_url"] == site.url("/refreshed")


def test_a_download_is_hashed_never_rendered(site: Site, proxy: ProxyDouble) -> None:
    payload = b"MZ" + bytes(range(256)) * 64
    site.page(
        "/setup.exe",
        payload,
        content_type="application/x-msdownload",
        headers={"Content-Disposition": 'attachment; filename="setup.exe"'},
    )
    site.page("/", b"<p>get it</p><script>location.href = '/setup.exe';</script>")

    report = run_capture(site.url("/"), proxy_socket=proxy.socket_path).report

    [download] = report["downloads"]
    assert download["name"] == "setup.exe"
    assert download["sha256"] == sha256(payload)
    assert download["size"] == len(payload)
    assert download["media_type"] == "application/x-msdownload"
    assert download["failure"] is None


def test_a_page_that_never_finishes_loading_ends_at_the_deadline(
    site: Site, proxy: ProxyDouble
) -> None:
    release = threading.Event()
    site.page("/", b"<title>slow</title><p>visible</p><img src='/never'>")

    def never(request: BaseHTTPRequestHandler) -> None:
        release.wait(60)

    site.routes["/never"] = never
    try:
        capture = run_capture(
            site.url("/"),
            proxy_socket=proxy.socket_path,
            deadline_ms=6000,
            options=["--collect-ms", "2000"],
        )
    finally:
        release.set()
    report = capture.report
    assert report["error"]["code"] == "timeout"
    assert report["loaded"] is False
    # What could be had is there: the page answered, so its screenshot and DOM exist.
    assert "screenshot" in capture.artifacts
    assert b"visible" in capture.artifacts["dom"]
    [never_request] = capture.requests_to("/never")
    assert never_request["status"] is None


def test_an_endless_script_loop_ends_at_the_deadline(site: Site, proxy: ProxyDouble) -> None:
    site.page("/", b"<title>loop</title><script>for (;;) {}</script>")

    capture = run_capture(
        site.url("/"),
        proxy_socket=proxy.socket_path,
        deadline_ms=6000,
        options=["--collect-ms", "2000"],
    )
    report = capture.report

    assert report["error"]["code"] == "timeout"
    assert report["missing"]["page"] == "deadline"
    [document] = capture.requests_to("/")
    assert document["status"] == 200


def test_webrtc_a_service_worker_and_disallowed_targets_make_no_connection_outside_the_proxy(
    site: Site, proxy: ProxyDouble
) -> None:
    with canary() as bird:
        # The canary hears a direct connection and a datagram: it would notice a leak.
        socket.create_connection(("127.0.0.1", bird.tcp_port), timeout=5).close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"x", ("127.0.0.1", bird.udp_port))
        poll(lambda: True if bird.total == 2 else None, timeout_s=10, what="the canary")
        assert bird.tcp_connections == 1
        assert bird.udp_datagrams == 1
        bird.reset()

        target = f"127.0.0.1:{bird.tcp_port}"
        site.page(
            "/sw.js",
            f"fetch('http://{target}/from-worker');".encode(),
            content_type="text/javascript",
        )
        site.page(
            "/",
            f"""<img src="http://{target}/img">
<script>
fetch('http://{target}/fetch').catch(() => console.log('fetch refused'));
ServiceWorkerContainer.prototype.register.call(navigator.serviceWorker, '/sw.js')
  .catch(() => null)
  .then(() => new Promise(resolve => setTimeout(resolve, 500)))
  .then(() => navigator.serviceWorker.getRegistrations())
  .then(registrations => console.log('workers: ' + registrations.length));
const peer = new RTCPeerConnection({{iceServers: [
  {{urls: 'stun:127.0.0.1:{bird.udp_port}'}},
  {{urls: 'turn:127.0.0.1:{bird.tcp_port}?transport=tcp', username: 'u', credential: 'p'}},
  {{urls: 'turn:127.0.0.1:{bird.udp_port}?transport=udp', username: 'u', credential: 'p'}}]}});
const candidates = [];
peer.onicecandidate = event => {{
  if (event.candidate) {{ candidates.push(event.candidate.candidate); }}
  else {{ console.log('ice done ' + JSON.stringify(candidates)); }}
}};
peer.createDataChannel('leak');
peer.createOffer().then(offer => peer.setLocalDescription(offer));
</script>""".encode(),
        )

        report = run_capture(
            site.url("/"), proxy_socket=proxy.socket_path, options=["--window-ms", "5000"]
        ).report

        assert bird.total == 0, (bird.tcp_connections, bird.udp_datagrams)
    texts = [message["text"] for message in report["console"]]
    assert any(text.startswith("ice done") for text in texts), texts
    assert "fetch refused" in texts
    # The service worker never ran, nor was its script even fetched.
    assert "workers: 0" in texts
    assert "/sw.js" not in site.hits
    assert not any(record.target.endswith("/sw.js") for record in proxy.records)
    # The proxy was asked for the canary and said no: the refusals are on its record.
    refused = {record.target for record in proxy.records if not record.allowed}
    assert f"http://{target}/fetch" in refused
    assert f"http://{target}/img" in refused


def test_a_url_on_stdin_is_captured_after_chromium_started(site: Site, proxy: ProxyDouble) -> None:
    site.page("/", b"<title>warm</title>")

    capture = run_capture(
        None, proxy_socket=proxy.socket_path, stdin=site.url("/").encode() + b"\n"
    )

    assert capture.report["title"] == "warm"
    assert capture.report["timings"]["launch_ms"] > 0


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "file:///etc/passwd", "data:text/html,<p>x</p>", "http://"]
)
def test_a_url_that_is_not_http_is_refused_before_anything_loads(
    url: str, proxy: ProxyDouble
) -> None:
    report = run_capture(url, proxy_socket=proxy.socket_path).report

    assert report["error"]["code"] == "bad_url"
    assert report["requests"] == []
    assert proxy.records == []


def test_a_target_the_proxy_refuses_is_reported_with_the_proxys_answer(
    tmp_path: Path, site: Site
) -> None:
    site.page("/", b"<title>unreachable</title>")
    with proxy_double(tmp_path, allowed_ports=set()) as refusing:
        report = run_capture(site.url("/"), proxy_socket=refusing.socket_path).report

    assert report["status"] == 403
    assert report["title"] != "unreachable"
    assert refusing.records[0].target == site.url("/")
    assert not any(record.allowed for record in refusing.records)
    assert site.hits == []


def test_playwright_is_built_for_the_installed_chromium(chromium: str) -> None:
    versions = current_versions(binary=chromium)

    assert versions.match, versions


@pytest.fixture
def tls_site(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """An HTTPS page on loopback whose certificate is from a CA Chromium does not know."""
    ca = trustme.CA(organization_name="scanbox test CA")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    body = b"<title>over tls</title>"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/", server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_the_main_documents_tls_facts_are_kept(tmp_path: Path, tls_site: tuple[str, int]) -> None:
    url, port = tls_site
    with proxy_double(tmp_path, allowed_ports={port}) as proxy:
        refused = run_capture(url, proxy_socket=proxy.socket_path).report
        report = run_capture(
            url, proxy_socket=proxy.socket_path, options=["--ignore-tls-errors"]
        ).report

    assert refused["error"]["code"] == "tls"
    assert report["title"] == "over tls"
    assert report["tls"]["protocol"].startswith("TLS 1.")
    # A certificate Chromium was told to accept comes without its names: only the protocol
    # and the handshake's facts are known for it.
    assert set(report["tls"]) >= {"protocol", "issuer", "subjectName", "validFrom", "validTo"}
    # TLS went end to end through a CONNECT tunnel.
    assert {record.method for record in proxy.records} == {"CONNECT"}


def test_the_favicon_frames_and_text_are_kept(site: Site, proxy: ProxyDouble) -> None:
    site.page(
        "/",
        b"<link rel='shortcut icon' href='/brand.png'><p>Sign in to continue</p>"
        b"<iframe name='inner' src='/inner'></iframe>",
    )
    site.page("/inner", b"<p>framed</p><script>fetch('/from-frame');</script>")
    site.page("/from-frame", b"ok", content_type="text/plain")
    site.page("/brand.png", PIXEL_PNG, content_type="image/png")

    capture = run_capture(site.url("/"), proxy_socket=proxy.socket_path)
    report = capture.report

    assert report["favicon"]["url"] == site.url("/brand.png")
    assert report["favicon"]["sha256"] == sha256(PIXEL_PNG)
    assert report["favicon"]["media_type"] == "image/png"
    assert capture.artifacts["favicon"] == PIXEL_PNG
    # The capture's own look at the icon is not one of the page's requests.
    assert capture.requests_to("/brand.png") == []
    [inner] = [frame for frame in report["frames"] if frame["name"] == "inner"]
    assert inner["parent"] == 0
    assert inner["url"] == site.url("/inner")
    [from_frame] = capture.requests_to("/from-frame")
    assert from_frame["frame"] == inner["frame"]
    assert from_frame["sha256"] == sha256(b"ok")
    assert "Sign in to continue" in report["text"]
