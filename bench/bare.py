"""The floor: the same HTTP requests a full MCP probe makes, from a bare blocking-socket client.

No exporter, no event loop, no validation beyond parsing the JSON: what is left between the stub's
delay and the client's clock is the loopback, the kernel and the two processes' scheduling. Each
probe opens a fresh connection (as the exporter does) and times each request from just before it is
written to just after its answer is parsed, excluding the connect, as the exporter's phases do.

Runs as its own process: python -m bench.bare '<json spec>' with keys port, path ({i}), count,
duration (seconds, the run stops at whichever of count and duration comes first), interval (seconds
between probe starts; 0 for back to back). Prints one JSON line: records [path, phase, seconds].
"""

from __future__ import annotations

import json
import socket
import sys
import time
from typing import Any

_perf = time.perf_counter
VERSION = "2025-11-25"


def _read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, dict[str, str], bytes]:
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        buffer += data
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    start = end + 4
    while len(buffer) < start + length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        buffer += data
    body = bytes(buffer[start : start + length])
    del buffer[: start + length]
    return status, headers, body


def _request(
    sock: socket.socket, buffer: bytearray, method: str, path: str, headers: list[str], body: bytes
) -> tuple[int, dict[str, str], Any, float]:
    started = _perf()
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    if body:
        head.append(f"Content-Length: {len(body)}")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
    status, resp_headers, resp_body = _read_response(sock, buffer)
    parsed = json.loads(resp_body) if resp_body else None
    return status, resp_headers, parsed, _perf() - started


def probe(port: int, path: str) -> list[tuple[str, str, float]]:
    """One full MCP conversation on a fresh connection; returns (path, phase, seconds)."""
    out: list[tuple[str, str, float]] = []
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = bytearray()
    base = ["Content-Type: application/json", "Accept: application/json, text/event-stream"]
    try:
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": VERSION,
                "capabilities": {},
                "clientInfo": {"name": "bench-bare", "version": "1"},
            },
        }
        _, headers, _, seconds = _request(
            sock, buffer, "POST", path, base, json.dumps(init).encode()
        )
        out.append((path, "initialize", seconds))
        session = [
            f"Mcp-Session-Id: {headers['mcp-session-id']}",
            f"MCP-Protocol-Version: {VERSION}",
        ]
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        *_, seconds = _request(
            sock, buffer, "POST", path, base + session, json.dumps(note).encode()
        )
        out.append((path, "initialized", seconds))
        tools = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
        *_, seconds = _request(
            sock, buffer, "POST", path, base + session, json.dumps(tools).encode()
        )
        out.append((path, "tools_list", seconds))
        *_, seconds = _request(sock, buffer, "DELETE", path, session, b"")
        out.append((path, "session_delete", seconds))
    finally:
        sock.close()
    return out


def main() -> None:
    """Entry point: python -m bench.bare '<json spec>'."""
    spec = json.loads(sys.argv[1])
    port = int(spec["port"])
    count = int(spec.get("count", 100))
    duration = float(spec.get("duration", 1e9))
    interval = float(spec.get("interval", 0))
    records: list[tuple[str, str, float]] = []
    t0 = _perf()
    for i in range(count):
        due = t0 + i * interval
        now = _perf()
        if now - t0 >= duration:
            break
        if due > now:
            time.sleep(due - now)
        records.extend(probe(port, spec["path"].format(i=i)))
    sys.stdout.write(json.dumps({"records": records}) + "\n")


if __name__ == "__main__":
    main()
