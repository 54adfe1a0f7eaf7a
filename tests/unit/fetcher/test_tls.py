"""HTTPS to a pinned loopback address: the certificate is still verified for the URL's name."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from pathlib import Path

import trustme

from fetcher.fetch import fetch
from fetcher.tls import TlsSession, describe
from tests.unit.fetcher.servers import FakeResolver, Reply, ScriptedServer, replies
from tests.unit.fetcher.support import TEST_HOST, loopback_options, server_context

MakeServer = Callable[..., ScriptedServer]


def start_tls_server(
    make_server: MakeServer, ca: trustme.CA, *names: str
) -> tuple[ScriptedServer, list[str | None]]:
    """An HTTPS server for ``names``, and the SNI names its handshakes were asked for."""
    context = server_context(ca, *names)
    server_names: list[str | None] = []

    def remember_sni(_socket: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        server_names.append(name)

    context.sni_callback = remember_sni
    server = make_server(replies(Reply(body=b"secure")), ssl_context=context)
    return server, server_names


def test_https_to_a_pinned_address_verifies_the_name_and_reports_tls_facts(
    make_server: MakeServer, test_ca: trustme.CA, ca_file: str
) -> None:
    server, server_names = start_tls_server(make_server, test_ca, TEST_HOST)
    resolver = FakeResolver([["127.0.0.1"]])

    outcome = fetch(
        f"https://{TEST_HOST}:{server.port}/",
        options=loopback_options(server.port, ca_file=ca_file),
        resolver=resolver,
    )

    assert outcome.error is None
    final = outcome.final
    assert final is not None
    assert final.status_code == 200
    assert final.body.kept == b"secure"
    assert final.peer is not None
    assert str(final.peer.address) == "127.0.0.1"
    assert server_names == [TEST_HOST]
    assert server.requests[0].headers["host"] == f"{TEST_HOST}:{server.port}"
    assert final.tls is not None
    facts = describe(final.tls, now=time.time())
    assert facts["version"].startswith("TLSv1.")
    assert facts["cipher"]
    assert facts["subject_cn"] == TEST_HOST
    assert facts["san"] == [TEST_HOST]
    assert facts["issuer_o"].startswith("trustme")
    assert facts["not_before"].endswith("Z")
    assert facts["not_after"] > facts["not_before"]
    assert facts["days_to_expiry"] > 0
    assert facts["serial"]


def test_a_certificate_for_another_name_fails_with_tls(
    make_server: MakeServer, test_ca: trustme.CA, ca_file: str
) -> None:
    server, _ = start_tls_server(make_server, test_ca, "someone-else.internal")

    outcome = fetch(
        f"https://{TEST_HOST}:{server.port}/",
        options=loopback_options(server.port, ca_file=ca_file),
        resolver=FakeResolver([["127.0.0.1"]]),
    )

    assert outcome.error is not None
    assert outcome.error.code == "tls"
    assert TEST_HOST in outcome.error.message
    assert outcome.final is None
    assert server.requests == []


def test_a_certificate_from_an_untrusted_authority_fails_with_tls(
    make_server: MakeServer, test_ca: trustme.CA
) -> None:
    server, _ = start_tls_server(make_server, test_ca, TEST_HOST)

    outcome = fetch(
        f"https://{TEST_HOST}:{server.port}/",
        options=loopback_options(server.port),
        resolver=FakeResolver([["127.0.0.1"]]),
    )

    assert outcome.error is not None
    assert outcome.error.code == "tls"
    assert server.requests == []


def test_an_unusable_ca_file_is_a_tls_error(tmp_path: Path, make_server: MakeServer) -> None:
    server = make_server(replies(Reply()))
    bogus = tmp_path / "not-a-ca.pem"
    bogus.write_text("this is not PEM")

    outcome = fetch(
        f"https://{TEST_HOST}:{server.port}/",
        options=loopback_options(server.port, ca_file=str(bogus)),
        resolver=FakeResolver([["127.0.0.1"]]),
    )

    assert outcome.error is not None
    assert outcome.error.code == "tls"
    assert server.connections == []


def test_certificate_facts_are_read_from_getpeercert() -> None:
    session = TlsSession(
        version="TLSv1.3",
        cipher="TLS_AES_128_GCM_SHA256",
        certificate={
            "subject": ((("commonName", "www.example.test"),),),
            "issuer": (
                (("countryName", "US"),),
                (("organizationName", "Example CA Ltd"),),
                (("commonName", "Example Issuing CA 1"),),
            ),
            "subjectAltName": (("DNS", "www.example.test"), ("IP Address", "192.0.2.1")),
            "notBefore": "Jan  1 00:00:00 2030 GMT",
            "notAfter": "Jan 11 00:00:00 2030 GMT",
            "serialNumber": "0A1B2C",
        },
    )
    jan_1_2030 = 1_893_456_000

    facts = describe(session, now=jan_1_2030)

    assert facts == {
        "version": "TLSv1.3",
        "cipher": "TLS_AES_128_GCM_SHA256",
        "subject_cn": "www.example.test",
        "issuer_cn": "Example Issuing CA 1",
        "issuer_o": "Example CA Ltd",
        "san": ["www.example.test", "192.0.2.1"],
        "not_before": "2030-01-01T00:00:00Z",
        "not_after": "2030-01-11T00:00:00Z",
        "days_to_expiry": 10.0,
        "serial": "0A1B2C",
    }
