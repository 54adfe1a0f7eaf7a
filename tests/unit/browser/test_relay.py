"""The loopback relay to the proxy's Unix socket."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fetcher.browser.relay import Relay


async def echo_proxy(path: Path) -> asyncio.AbstractServer:
    """A Unix-socket server that answers each connection's first line, then echoes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        writer.write(b"HTTP/1.1 200 OK\r\n\r\n" + line)
        while data := await reader.read(1024):
            writer.write(data)
        writer.close()

    return await asyncio.start_unix_server(handle, path=str(path))


def test_bytes_go_both_ways_and_the_proxy_request_is_recorded(tmp_path: Path) -> None:
    async def scenario() -> None:
        server = await echo_proxy(tmp_path / "egress.sock")
        relay = Relay(socket_path=str(tmp_path / "egress.sock"), max_connections=4)
        port = await relay.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: x\r\n\r\npayload")
        writer.write_eof()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        await writer.wait_closed()
        await relay.close()
        server.close()
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n\r\nCONNECT 127.0.0.1:443")
        assert answer.endswith(b"payload")
        [connection] = relay.connections()
        assert connection.request_line == "CONNECT 127.0.0.1:443 HTTP/1.1"
        assert connection.refused is None
        assert connection.sent_bytes == len(
            b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: x\r\n\r\npayload"
        )
        assert connection.received_bytes == len(answer)
        assert relay.proxy_url == f"http://127.0.0.1:{port}"

    asyncio.run(scenario())


def test_a_missing_proxy_socket_closes_the_connection_and_is_recorded(tmp_path: Path) -> None:
    async def scenario() -> None:
        relay = Relay(socket_path=str(tmp_path / "absent.sock"), max_connections=4)
        port = await relay.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET http://a.test/ HTTP/1.1\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 10) == b""
        writer.close()
        await writer.wait_closed()
        await relay.close()
        [connection] = relay.connections()
        assert connection.refused == "proxy_unreachable"

    asyncio.run(scenario())


def test_connections_past_the_limit_are_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        server = await echo_proxy(tmp_path / "egress.sock")
        relay = Relay(socket_path=str(tmp_path / "egress.sock"), max_connections=1)
        port = await relay.start()
        first_reader, first = await asyncio.open_connection("127.0.0.1", port)
        first.write(b"CONNECT a:1 HTTP/1.1\r\n\r\n")
        await asyncio.wait_for(first_reader.readline(), 10)
        second_reader, second = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(second_reader.read(), 10) == b""
        first.close()
        second.close()
        await first.wait_closed()
        await second.wait_closed()
        await relay.close()
        server.close()
        assert [c.refused for c in relay.connections()] == [None, "too_many"]

    asyncio.run(scenario())
