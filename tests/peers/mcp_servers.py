"""Fixtures: real MCP servers (official SDK, server-everything) on 127.0.0.1 free ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
EVERYTHING = HERE / "node" / "node_modules" / "@modelcontextprotocol" / "server-everything"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"peer exited with {proc.returncode}: {proc.args!r}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"peer did not listen on {port} within {timeout}s: {proc.args!r}")


@dataclass
class Peer:
    """A running server: its base URL, MCP URL and process."""

    base: str
    url: str
    proc: subprocess.Popen[bytes]

    def requests(self) -> list[dict[str, Any]]:
        """What an SDK test server recorded."""
        with urllib.request.urlopen(f"{self.base}/_requests", timeout=5) as resp:
            data: list[dict[str, Any]] = json.load(resp)
        return data

    def stop(self) -> None:
        """Stop the process."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_sdk(
    mode: str,
    *,
    json_response: bool = False,
    asks_back: bool = False,
    origin_protection: bool = False,
) -> Peer:
    """Start sdk_server.py in the given mode (with the asks_back tool, Origin checks if asked)."""
    port = free_port()
    cmd = [sys.executable, str(HERE / "sdk_server.py"), "--mode", mode, "--port", str(port)]
    if json_response:
        cmd.append("--json")
    if asks_back:
        cmd.append("--asks-back")
    if origin_protection:
        cmd.append("--origin-protection")
    proc = subprocess.Popen(cmd)
    wait_for_port(port, proc)
    base = f"http://127.0.0.1:{port}"
    return Peer(base, f"{base}/sse" if mode == "sse" else f"{base}/mcp", proc)


def start_everything(mode: str) -> Peer:
    """Start @modelcontextprotocol/server-everything (it binds all interfaces; we use 127.0.0.1)."""
    port = free_port()
    entry = EVERYTHING / "dist" / "index.js"
    proc = subprocess.Popen(
        ["node", str(entry), mode],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, proc)
    base = f"http://127.0.0.1:{port}"
    return Peer(base, f"{base}/sse" if mode == "sse" else f"{base}/mcp", proc)


@pytest.fixture(scope="session")
def sdk_stateful() -> Iterator[Peer]:
    """SDK server: stateful Streamable HTTP answering with SSE."""
    peer = start_sdk("stateful")
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def sdk_stateless_json() -> Iterator[Peer]:
    """SDK server: stateless Streamable HTTP answering with JSON."""
    peer = start_sdk("stateless", json_response=True)
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def sdk_legacy_sse() -> Iterator[Peer]:
    """SDK server: the legacy HTTP+SSE transport."""
    peer = start_sdk("sse")
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def everything_http() -> Iterator[Peer]:
    """server-everything in streamableHttp mode."""
    peer = start_everything("streamableHttp")
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def everything_sse() -> Iterator[Peer]:
    """server-everything in sse mode."""
    peer = start_everything("sse")
    yield peer
    peer.stop()
