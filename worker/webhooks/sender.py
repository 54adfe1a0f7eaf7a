"""Sending one webhook request through the egress proxy, and reading the answer as hostile data.

Each attempt opens an egress session whose time to live is the attempt's deadline (the proxy
cuts the connection when it passes, however slowly a receiver drips its answer) and whose
byte budget bounds what the receiver can send. The request goes through ``CONNECT``: the
proxy resolves the callback's host once, refuses it if any address is refused by the scans'
rules, connects to the address it checked and records the connection; this side checks the
address the proxy names again (:class:`fetcher.proxy.ProxyTunnel`, the fetcher's own). An
``https`` callback's certificate is verified for the URL's host. One request per connection,
no redirects followed.

The answer is read only as far as its status line, headers (``http.client``'s own bounds)
and the first :data:`MAX_RESPONSE_BYTES` of the body; that excerpt is kept made printable,
and nothing of the answer is ever logged.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit

from fetcher.addresses import IPNetwork
from fetcher.deadline import Deadline
from fetcher.errors import Blocked, FetchError, TimedOut
from fetcher.ports import PortPolicy
from fetcher.proxy import ProxyTunnel, UnixOpener, open_unix_socket
from fetcher.urls import parse_target
from worker.egress.client import EgressClient
from worker.egress.errors import EgressError
from worker.printable import printable

#: Bytes of the receiver's answer body read (the rest is never read).
MAX_RESPONSE_BYTES = 4096
#: Characters of that excerpt kept.
MAX_EXCERPT_CHARS = 500
#: Bytes one attempt may move through the proxy, both ways (the request's body is bounded
#: by the job's summary; headers by ``http.client``).
SESSION_MAX_BYTES = 1024 * 1024

#: How an attempt ended: an HTTP answer, or why there was none.
Kind = Literal["answered", "timeout", "unreachable", "refused", "error"]


@dataclass(frozen=True, kw_only=True)
class Answer:
    """What one attempt got: the receiver's status, or why it got none."""

    kind: Kind
    #: Why the attempt did not deliver (or what it got), in scanbox's words.
    detail: str
    status: int | None = None
    retry_after: str | None = None
    #: The start of the answer's body, printable and cut short.
    excerpt: str | None = None
    #: The address the proxy connected to.
    peer: str | None = None


class _Tunnelled(http.client.HTTPConnection):
    """``http.client`` on a socket that is connected already (the proxy's tunnel)."""

    def __init__(self, sock: socket.socket, *, timeout: float) -> None:
        super().__init__("tunnel", timeout=timeout)
        self.sock = sock

    def connect(self) -> None:
        raise http.client.NotConnected("a tunnelled connection is never opened again")


class WebhookSender:
    """POSTs webhook bodies through sessions of one egress proxy."""

    def __init__(
        self,
        *,
        egress: EgressClient,
        allowed_networks: tuple[IPNetwork, ...],
        allowed_ports: PortPolicy,
        timeout_s: float,
        user_agent: str,
        tls: ssl.SSLContext | None = None,
        opener: UnixOpener = open_unix_socket,
    ) -> None:
        self._egress = egress
        self._allowed_networks = allowed_networks
        self._allowed_ports = allowed_ports
        self._timeout_s = timeout_s
        self._user_agent = user_agent
        self._tls = tls if tls is not None else ssl.create_default_context()
        self._opener = opener

    def send(self, *, url: str, headers: Mapping[str, str], body: bytes, label: str) -> Answer:
        """POST ``body`` with ``headers`` to ``url``; what came back, or why nothing did."""
        try:
            target = parse_target(url, allowed_ports=self._allowed_ports)
        except FetchError as error:
            return Answer(kind="refused", detail=f"callback URL refused: {error.message}")
        deadline = Deadline(clock=time.monotonic, seconds=self._timeout_s)
        try:
            session = self._egress.open_session(
                label=label, ttl_ms=max(1, round(self._timeout_s * 1000))
            )
        except EgressError as error:
            return Answer(kind="error", detail=f"no egress session: {error}")
        sock: socket.socket | None = None
        try:
            tunnel = ProxyTunnel(
                socket_path=str(session.socket_path),
                allowed_networks=self._allowed_networks,
                opener=self._opener,
            )
            try:
                sock, pinned = tunnel.open(
                    host=target.host,
                    port=target.port,
                    url=target.url,
                    deadline=deadline,
                    timeout=self._timeout_s,
                )
            except Blocked as error:
                return Answer(kind="refused", detail=f"refused by the egress proxy: {error}")
            except TimedOut as error:
                return Answer(kind="timeout", detail=f"timed out: {error}")
            except (FetchError, OSError) as error:
                return Answer(kind="unreachable", detail=f"not reached: {error}")
            peer = str(pinned.address)
            host = urlsplit(target.url).netloc
            answer, sock = self._exchange(
                sock, target=target.request_target, host=host, tls_host=target.host,
                https=target.scheme == "https", headers=headers, body=body, deadline=deadline,
            )  # fmt: skip
            return replace(answer, peer=peer)
        finally:
            if sock is not None:
                sock.close()
            # A session that expired meanwhile is forgotten by the proxy itself.
            with contextlib.suppress(EgressError):
                self._egress.close_session(session.id)

    def _exchange(
        self,
        sock: socket.socket,
        *,
        target: str,
        host: str,
        tls_host: str,
        https: bool,
        headers: Mapping[str, str],
        body: bytes,
        deadline: Deadline,
    ) -> tuple[Answer, socket.socket]:
        """One request and its answer on the tunnel; returns the socket to close."""
        try:
            sock.settimeout(deadline.bound(self._timeout_s))
            if https:
                sock = self._tls.wrap_socket(sock, server_hostname=tls_host)
            connection = _Tunnelled(sock, timeout=deadline.bound(self._timeout_s))
            connection.putrequest("POST", target, skip_host=True, skip_accept_encoding=True)
            for name, value in {
                "Host": host,
                "User-Agent": self._user_agent,
                "Content-Type": "application/json",
                "Content-Length": str(len(body)),
                "Connection": "close",
                **headers,
            }.items():
                connection.putheader(name, value)
            connection.endheaders(body)
            sock.settimeout(deadline.bound(self._timeout_s))
            response = connection.getresponse()
            excerpt = response.read(MAX_RESPONSE_BYTES)
        except ssl.SSLError as error:
            return Answer(kind="error", detail=f"TLS failed: {error.reason or error}"), sock
        except TimeoutError:
            return Answer(kind="timeout", detail="no answer in time"), sock
        except (http.client.HTTPException, OSError) as error:
            if deadline.remaining() <= 0:
                return Answer(kind="timeout", detail="no whole answer in time"), sock
            name = type(error).__name__
            if isinstance(error, http.client.HTTPException):
                return Answer(kind="error", detail=f"the answer was not HTTP ({name})"), sock
            return Answer(kind="error", detail=f"the connection broke ({name})"), sock
        text = printable(excerpt.decode("utf-8", "replace"))[:MAX_EXCERPT_CHARS]
        return (
            Answer(
                kind="answered",
                detail=f"answered {response.status}",
                status=response.status,
                retry_after=response.getheader("Retry-After"),
                excerpt=text,
            ),
            sock,
        )
