"""A small keep-alive HTTP/1.1 GET client for driving `/probe`, as cheap in CPU as asyncio allows.

The load generator shares a core with the stub server, so it must not be the bottleneck: raw
asyncio protocol, one request in flight per connection, Content-Length and chunked bodies.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

_perf = time.perf_counter
HEAD_END: Final = b"\r\n\r\n"


class HTTPError(Exception):
    """The connection failed or the answer was not HTTP."""


class _Protocol(asyncio.Protocol):
    __slots__ = ("buffer", "closed", "transport", "waiter")

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None and not self.waiter.done():
            parsed = _parse(self.buffer)
            if parsed is not None:
                status, body, used = parsed
                del self.buffer[:used]
                self.waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HTTPError(f"connection lost: {exc}"))


def _parse(buffer: bytearray) -> tuple[int, bytes, int] | None:
    end = buffer.find(HEAD_END)
    if end < 0:
        return None
    head = bytes(buffer[:end]).decode("latin-1")
    lines = head.split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        lname = name.lower()
        if lname == "content-length":
            length = int(value)
        elif lname == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    start = end + 4
    if chunked:
        body = bytearray()
        pos = start
        while True:
            line_end = buffer.find(b"\r\n", pos)
            if line_end < 0:
                return None
            size = int(bytes(buffer[pos:line_end]).split(b";", 1)[0], 16)
            data_start = line_end + 2
            if size == 0:
                trailer_end = buffer.find(b"\r\n", data_start)
                if trailer_end < 0:
                    return None
                return status, bytes(body), trailer_end + 2
            if len(buffer) < data_start + size + 2:
                return None
            body += buffer[data_start : data_start + size]
            pos = data_start + size + 2
    length = length or 0
    if len(buffer) < start + length:
        return None
    return status, bytes(buffer[start : start + length]), start + length


class Connection:
    """One keep-alive connection to an HTTP server on 127.0.0.1."""

    def __init__(self, protocol: _Protocol) -> None:
        self.protocol = protocol

    @classmethod
    async def open(cls, port: int) -> Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_Protocol, "127.0.0.1", port)
        return cls(protocol)

    @property
    def usable(self) -> bool:
        return not self.protocol.closed

    async def get(self, path: str, headers: str = "") -> tuple[int, bytes]:
        """GET path; returns (status, body)."""
        protocol = self.protocol
        if protocol.transport is None or protocol.closed:
            raise HTTPError("connection closed")
        waiter: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        protocol.waiter = waiter
        protocol.transport.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode("latin-1")
        )
        try:
            return await waiter
        finally:
            protocol.waiter = None

    def close(self) -> None:
        if self.protocol.transport is not None:
            self.protocol.transport.close()


class Pool:
    """Keep-alive connections to one port, opened on demand (as Prometheus' scrape client does)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[Connection] = []
        self.opened = 0

    async def get(self, path: str, headers: str = "") -> tuple[int, bytes]:
        conn = None
        while self.idle:
            candidate = self.idle.pop()
            if candidate.usable:
                conn = candidate
                break
        if conn is None:
            conn = await Connection.open(self.port)
            self.opened += 1
        try:
            result = await conn.get(path, headers)
        except BaseException:
            conn.close()
            raise
        self.idle.append(conn)
        return result

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()
