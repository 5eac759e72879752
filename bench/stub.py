"""A minimal MCP server over Streamable HTTP, for benchmarking.

Raw asyncio protocol, no framework: each request costs the stub as little CPU as possible, and each
answer is sent after an exact configured delay. asyncio timers are not exact (the loop wakes up to
about 1 ms late), so the stub measures, for every request, the time from the last byte of the
request to the write of the answer, and keeps it: the benchmark subtracts what the stub really
waited, not what it was asked to wait.

Any path is an MCP endpoint (the scale test uses 10,000 distinct URLs). Methods answered:
`initialize` (with an Mcp-Session-Id), notifications (202), `tools/list`, `server/discover`, `ping`,
and DELETE of a session. Control paths under `/__stub/` return statistics as JSON.

Run: python -m bench.stub --port 0 --delay-ms 20 [--record]; it prints its port on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import ssl
import sys
import time
from typing import Any, Final

SERVER_INFO: Final = {"name": "bench-stub", "version": "1.0.0"}
CAPABILITIES: Final = {"tools": {"listChanged": False}}
KNOWN_VERSIONS: Final = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
# Three small tools, so tools/list does the JSON work a small real server's answer needs.
TOOLS: Final = [
    {
        "name": name,
        "description": f"The {name} tool of the benchmark stub.",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string", "description": "Input text."}},
            "required": ["text"],
        },
    }
    for name in ("echo", "add", "lookup")
]

_STATUS_TEXT: Final = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
}
_perf = time.perf_counter


class Stats:
    """What the stub saw, for /__stub/stats and /__stub/delays."""

    def __init__(self, delay: float, record: bool) -> None:
        self.delay = delay
        self.record = record
        self.requests = 0
        self.connections = 0
        self.by_method: dict[str, int] = {}
        self.sessions: set[str] = set()
        self.sessions_created = 0
        self.sessions_deleted = 0
        # (path, method, actual delay in seconds) when recording; else only aggregate samples.
        self.records: list[tuple[str, str, float]] = []
        self.delays: list[float] = []

    def summary(self) -> dict[str, Any]:
        delays = sorted(self.delays)
        return {
            "requests": self.requests,
            "connections": self.connections,
            "by_method": self.by_method,
            "sessions_open": len(self.sessions),
            "sessions_created": self.sessions_created,
            "sessions_deleted": self.sessions_deleted,
            "configured_delay_seconds": self.delay,
            "actual_delay_seconds": _quantiles(delays),
        }


def _quantiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"count": 0}
    n = len(values)
    return {
        "count": n,
        "min": values[0],
        "p50": values[n // 2],
        "p99": values[min(n - 1, int(n * 0.99))],
        "max": values[-1],
    }


def _response(
    status: int, body: bytes, extra: str = "", content_type: str = "application/json"
) -> bytes:
    head = f"HTTP/1.1 {status} {_STATUS_TEXT.get(status, 'OK')}\r\nContent-Length: {len(body)}\r\n"
    if body:
        head += f"Content-Type: {content_type}\r\n"
    return (head + extra + "\r\n").encode("latin-1") + body


def _result(request_id: Any, result: dict[str, Any]) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "result": result}, separators=(",", ":")
    ).encode()


class MCPStubProtocol(asyncio.Protocol):
    """One client connection: HTTP/1.1 keep-alive, requests answered in order."""

    __slots__ = ("buffer", "loop", "stats", "transport")

    _session_ids = itertools.count(1)

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.stats.connections += 1

    def data_received(self, data: bytes) -> None:
        received = _perf()
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            lines = head.split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            length = 0
            session = None
            for line in lines[1:]:
                name, _, value = line.partition(":")
                lname = name.lower()
                if lname == "content-length":
                    length = int(value)
                elif lname == "mcp-session-id":
                    session = value.strip()
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self._handle(method, target, session, body, received)

    def _handle(
        self, method: str, target: str, session: str | None, body: bytes, received: float
    ) -> None:
        stats = self.stats
        stats.requests += 1
        path = target.split("?", 1)[0]
        if path.startswith("/__stub/"):
            self._control(path, target)
            return
        extra = ""
        rpc_method = method
        if method == "POST":
            try:
                message = json.loads(body)
                rpc_method = str(message.get("method"))
                request_id = message.get("id")
            except (ValueError, AttributeError):
                self._send(_response(400, b'{"error":"not JSON-RPC"}'), path, "invalid", received)
                return
            if rpc_method == "initialize":
                params = message.get("params") or {}
                requested = params.get("protocolVersion")
                version = requested if requested in KNOWN_VERSIONS else KNOWN_VERSIONS[-1]
                session_id = f"s{os.getpid()}-{next(self._session_ids)}"
                stats.sessions.add(session_id)
                stats.sessions_created += 1
                extra = f"Mcp-Session-Id: {session_id}\r\n"
                payload = _response(
                    200,
                    _result(
                        request_id,
                        {
                            "protocolVersion": version,
                            "capabilities": CAPABILITIES,
                            "serverInfo": SERVER_INFO,
                        },
                    ),
                    extra,
                )
            elif request_id is None:
                payload = _response(202, b"")
            elif rpc_method == "tools/list":
                payload = _response(200, _result(request_id, {"tools": TOOLS}))
            elif rpc_method == "server/discover":
                payload = _response(
                    200,
                    _result(
                        request_id,
                        {
                            "supportedVersions": [*KNOWN_VERSIONS, "2026-07-28"],
                            "capabilities": CAPABILITIES,
                            "serverInfo": SERVER_INFO,
                        },
                    ),
                )
            elif rpc_method == "ping":
                payload = _response(200, _result(request_id, {}))
            else:
                payload = _response(
                    200,
                    json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "id": request_id,
                            "error": {"code": -32601, "message": "Method not found"},
                        }
                    ).encode(),
                )
        elif method == "DELETE":
            if session is not None and session in stats.sessions:
                stats.sessions.discard(session)
                stats.sessions_deleted += 1
            payload = _response(200, b"")
        else:
            payload = _response(405, b"")
        stats.by_method[rpc_method] = stats.by_method.get(rpc_method, 0) + 1
        if stats.delay > 0:
            self.loop.call_at(
                received + stats.delay - _perf() + self.loop.time(),
                self._send,
                payload,
                path,
                rpc_method,
                received,
            )
        else:
            self._send(payload, path, rpc_method, received)

    def _send(self, payload: bytes, path: str, rpc_method: str, received: float) -> None:
        actual = _perf() - received
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(payload)
        stats = self.stats
        stats.delays.append(actual)
        if stats.record:
            stats.records.append((path, rpc_method, actual))

    def _control(self, path: str, target: str) -> None:
        stats = self.stats
        if path == "/__stub/stats":
            body = json.dumps(stats.summary()).encode()
        elif path == "/__stub/delays":
            body = json.dumps(stats.records).encode()
        elif path == "/__stub/reset":
            stats.records.clear()
            stats.delays.clear()
            stats.requests = 0
            stats.by_method.clear()
            body = b"{}"
        else:
            body = b"{}"
        assert self.transport is not None
        self.transport.write(_response(200, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(port: int, delay: float, record: bool, tls: tuple[str, str] | None = None) -> None:
    """Serve until SIGTERM/SIGINT; print the bound port on stdout first."""
    stats = Stats(delay, record)
    loop = asyncio.get_running_loop()
    context = None
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
    server = await loop.create_server(
        lambda: MCPStubProtocol(stats),
        "127.0.0.1",
        port,
        backlog=4096,
        reuse_address=True,
        ssl=context,
    )
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"{bound}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()


def main(argv: list[str] | None = None) -> None:
    """Entry point: python -m bench.stub."""
    parser = argparse.ArgumentParser(prog="python -m bench.stub")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument(
        "--record", action="store_true", help="keep (path, method, delay) of every request"
    )
    parser.add_argument("--tls-cert", help="serve https with this certificate (and --tls-key)")
    parser.add_argument("--tls-key")
    args = parser.parse_args(argv)
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    asyncio.run(serve(args.port, args.delay_ms / 1000, args.record, tls))


if __name__ == "__main__":
    main()
