"""The network layer against real peers: HTTP/2 (hypercorn), a forward proxy (tinyproxy), and
fakes for what real servers rarely send (1xx answers, conflicting lengths, compressed bodies and
bombs, a connection dropped after a tool call went out)."""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import brotli  # type: ignore[import-untyped]
import pytest

from tests import hostile
from tests.conftest import ExporterFactory
from tests.peers.mcp_servers import HERE, Peer, free_port, wait_for_port
from tests.test_probe_mcp import failure

UP = "client_to_upstream"


def _module(name: str, extra: str = "", steps: str = "[tools_list]") -> str:
    call = "\n      tool_call: {name: echo, arguments: {text: hi}}" if "tool_call" in steps else ""
    return f"""
  {name}:
    prober: mcp
    timeout: 5s
    mcp:
      transport: streamable_http
      steps: {steps}{call}
      limits: {{max_response_bytes: 64KiB}}{extra}
"""


def config(*modules: str) -> str:
    return "modules:" + "".join(modules)


# --- HTTP/2 ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def h2_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Peer, Path]]:
    """The MCP SDK's app on hypercorn over TLS, offering only h2 by ALPN; yields (peer, CA)."""
    directory = tmp_path_factory.mktemp("h2")
    tls = hostile.tls_files(directory)
    cert_file, key_file = tls.write_pair(tls.ca.issue_cert("127.0.0.1"), "server")
    port = free_port()
    cmd = [sys.executable, str(HERE / "sdk_server.py"), "--mode", "stateful", "--port", str(port)]
    cmd += ["--h2", "--certfile", str(cert_file), "--keyfile", str(key_file)]
    proc = subprocess.Popen(cmd)
    wait_for_port(port, proc)
    base = f"https://127.0.0.1:{port}"
    peer = Peer(base, f"{base}/mcp", proc)
    yield peer, tls.ca_file
    peer.stop()


@pytest.fixture(scope="module")
def h2c() -> Iterator[Peer]:
    """The MCP SDK's app on hypercorn in clear text (HTTP/1.1, or HTTP/2 by prior knowledge)."""
    port = free_port()
    cmd = [sys.executable, str(HERE / "sdk_server.py"), "--mode", "stateful", "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--h2"])
    wait_for_port(port, proc)
    base = f"http://127.0.0.1:{port}"
    peer = Peer(base, f"{base}/mcp", proc)
    yield peer
    peer.stop()


async def test_http2_only_server_probes_successfully(
    make_exporter: ExporterFactory, h2_tls: tuple[Peer, Path]
) -> None:
    """An https server that speaks only HTTP/2 is probed over h2 (ALPN) and reports version 2."""
    peer, ca_file = h2_tls
    tls = f"\n      tls_config: {{ca_file: {ca_file}}}"
    exporter = await make_exporter(
        config(
            _module("auto", tls),
            _module("h2", tls + "\n      http_client: {http_version: 2}"),
        )
    )
    for module in ("auto", "h2"):
        m = await exporter.probe(peer.url, module)
        assert m["probe_success"] == 1, failure(m)
        assert m["probe_http_version"] == 2
        assert m['probe_mcp_step_success{step="tools_list"}'] == 1
        assert m['probe_mcp_phase_duration_seconds{phase="tls"}'] > 0


async def test_http2_prior_knowledge_and_http11_on_clear_text(
    make_exporter: ExporterFactory, h2c: Peer
) -> None:
    """On http, auto speaks HTTP/1.1 and http_version 2 speaks h2 by prior knowledge."""
    exporter = await make_exporter(
        config(_module("auto"), _module("h2", "\n      http_client: {http_version: 2}"))
    )
    m = await exporter.probe(h2c.url, "auto")
    assert m["probe_success"] == 1, failure(m)
    assert m["probe_http_version"] == 1.1
    m = await exporter.probe(h2c.url, "h2")
    assert m["probe_success"] == 1, failure(m)
    assert m["probe_http_version"] == 2


async def test_required_http2_fails_against_http11_only_server(
    make_exporter: ExporterFactory, tmp_path: Path, sdk_stateful: Peer
) -> None:
    """http_version 2 against an https server without h2 fails in the tls phase, saying why."""
    tls = hostile.tls_files(tmp_path)
    context = tls.server_context(tls.ca.issue_cert("127.0.0.1"))
    exporter = await make_exporter(
        config(
            _module(
                "h2",
                f"\n      tls_config: {{ca_file: {tls.ca_file}}}"
                "\n      http_client: {http_version: 2}",
            )
        )
    )
    async with hostile.serve_tls(hostile.mcp_server(), context) as url:
        m = await exporter.probe(url, "h2")
        _status, text = await exporter.get("/probe", target=url, module="h2", debug="true")
    assert failure(m) == (UP, "tls", "tls")
    assert "did not negotiate HTTP/2" in text


# --- proxies -----------------------------------------------------------------------------------


@dataclass
class Proxy:
    url: str
    log: Path


def _tinyproxy(directory: Path, auth: tuple[str, str] | None = None) -> Iterator[Proxy]:
    binary = shutil.which("tinyproxy")
    if binary is None:
        pytest.fail("tinyproxy is not installed (tests/peers/install.sh installs it)")
    port = free_port()
    log = directory / "tinyproxy.log"
    lines = [
        f"Port {port}",
        "Listen 127.0.0.1",
        "Timeout 10",
        f'LogFile "{log}"',
        "LogLevel Connect",
        "MaxClients 20",
        "Allow 127.0.0.1",
        "DisableViaHeader Yes",
    ]
    if auth is not None:
        lines.append(f"BasicAuth {auth[0]} {auth[1]}")
    conf = directory / "tinyproxy.conf"
    conf.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([binary, "-d", "-c", str(conf)])
    try:
        wait_for_port(port, proc)
        yield Proxy(f"http://127.0.0.1:{port}", log)
    finally:
        proc.terminate()
        proc.wait(timeout=5)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    """A real forward proxy (Debian's tinyproxy) on 127.0.0.1."""
    yield from _tinyproxy(tmp_path)


@pytest.fixture
def auth_proxy(tmp_path: Path) -> Iterator[Proxy]:
    """tinyproxy requiring Basic proxy credentials."""
    yield from _tinyproxy(tmp_path, ("probe", "Proxy-Pass-5e1"))


def _proxied(url: str) -> str:
    return f"\n      http_client: {{proxy_url: {url!r}}}"


async def test_http_target_through_forward_proxy(
    make_exporter: ExporterFactory, proxy: Proxy, sdk_stateful: Peer
) -> None:
    """An http target is probed through proxy_url; the proxy saw the requests."""
    exporter = await make_exporter(config(_module("via", _proxied(proxy.url))))
    m = await exporter.probe(sdk_stateful.url, "via")
    assert m["probe_success"] == 1, failure(m)
    assert m['probe_mcp_phase_duration_seconds{phase="proxy_connect"}'] > 0
    assert "dns" not in "".join(k for k in m if "phase_duration" in k)
    logged = proxy.log.read_text()
    assert sdk_stateful.url in logged or "127.0.0.1" in logged


async def test_https_target_through_connect_tunnel(
    make_exporter: ExporterFactory, proxy: Proxy, h2_tls: tuple[Peer, Path]
) -> None:
    """An https target goes through a CONNECT tunnel; TLS and h2 are end to end."""
    peer, ca_file = h2_tls
    exporter = await make_exporter(
        config(_module("via", _proxied(proxy.url) + f"\n      tls_config: {{ca_file: {ca_file}}}"))
    )
    m = await exporter.probe(peer.url, "via")
    assert m["probe_success"] == 1, failure(m)
    assert m["probe_http_version"] == 2
    assert "CONNECT 127.0.0.1:" in proxy.log.read_text()


async def test_proxy_credentials_are_sent_and_never_shown(
    make_exporter: ExporterFactory, auth_proxy: Proxy, sdk_stateful: Peer
) -> None:
    """proxy_username/proxy_password authenticate; the password appears on no surface."""
    block = (
        f"\n      http_client: {{proxy_url: {auth_proxy.url!r}, proxy_username: probe, "
        "proxy_password: Proxy-Pass-5e1}"
    )
    wrong = block.replace("Proxy-Pass-5e1", "Wrong-Pass-77")
    exporter = await make_exporter(config(_module("good", block), _module("bad", wrong)))
    m = await exporter.probe(sdk_stateful.url, "good")
    assert m["probe_success"] == 1, failure(m)
    m = await exporter.probe(sdk_stateful.url, "bad")
    assert m["probe_success"] == 0
    surfaces = []
    for module in ("good", "bad"):
        surfaces.append(
            (await exporter.get("/probe", target=sdk_stateful.url, module=module, debug="true"))[1]
        )
    for path in ("/", "/config", "/logs?id=0", "/logs?id=1"):
        surfaces.append((await exporter.get(path))[1])
    everything = "\n".join(surfaces)
    assert "Proxy-Pass-5e1" not in everything
    assert "Wrong-Pass-77" not in everything


async def test_refused_proxy_is_named_not_the_server(
    make_exporter: ExporterFactory, sdk_stateful: Peer
) -> None:
    """A proxy that refuses connections fails in phase proxy_connect, not as the MCP server."""
    dead = f"http://127.0.0.1:{free_port()}"
    exporter = await make_exporter(config(_module("via", _proxied(dead))))
    m = await exporter.probe(sdk_stateful.url, "via")
    assert failure(m) == (UP, "proxy_connect", "connect_refused")
    _status, text = await exporter.get(
        "/probe", target=sdk_stateful.url, module="via", debug="true"
    )
    assert "proxy 127.0.0.1" in text


async def test_no_proxy_bypasses_the_proxy(
    make_exporter: ExporterFactory, sdk_stateful: Peer
) -> None:
    """A target matching no_proxy connects directly even when the proxy is down."""
    dead = f"http://127.0.0.1:{free_port()}"
    block = f"\n      http_client: {{proxy_url: {dead!r}, no_proxy: [127.0.0.0/8]}}"
    exporter = await make_exporter(config(_module("via", block)))
    m = await exporter.probe(sdk_stateful.url, "via")
    assert m["probe_success"] == 1, failure(m)


async def test_policy_applies_to_the_target_behind_a_proxy(
    make_exporter: ExporterFactory, proxy: Proxy, sdk_stateful: Peer
) -> None:
    """The target policy refuses a denied target before the proxy is asked to connect."""
    text = config(_module("via", _proxied(proxy.url))) + (
        "target_policy:\n  deny:\n    - cidrs: [127.0.0.1/32]\n      ports: ["
        + sdk_stateful.url.rsplit(":", 1)[1].split("/")[0]
        + "]\n"
    )
    exporter = await make_exporter(text)
    m = await exporter.probe(sdk_stateful.url, "via")
    assert failure(m) == ("exporter", "policy", "target_not_allowed")
    assert "Request (" not in proxy.log.read_text()


def test_proxy_from_environment_rules() -> None:
    """HTTP(S)_PROXY and NO_PROXY are read as curl reads them."""
    from exporter.net.proxy import from_environment

    settings = from_environment(
        {
            "HTTPS_PROXY": "http://user:p%40ss@proxy.invalid:3128",
            "http_proxy": "proxy.invalid:8080",
            "NO_PROXY": "internal.invalid,.corp.invalid,10.0.0.0/8,localhost:9000",
        }
    )
    assert settings.for_url("https://mcp.example.invalid/mcp") == "http://proxy.invalid:3128"
    assert settings.for_url("http://mcp.example.invalid/mcp") == "http://proxy.invalid:8080"
    assert settings.auth == ("user", "p@ss")
    assert settings.for_url("https://internal.invalid/") is None
    assert settings.for_url("https://a.corp.invalid/") is None
    assert settings.for_url("https://corp.invalid/") is None
    assert settings.for_url("http://10.1.2.3/") is None
    assert settings.for_url("http://localhost:9000/") is None
    assert settings.for_url("http://localhost:9001/") == "http://proxy.invalid:8080"


# --- framing and encodings (fakes: real servers do not send these) -----------------------------


def _json_body(message: dict[str, Any]) -> bytes:
    reply = hostile.answer(message)
    assert reply is not None
    return json.dumps(reply).encode()


def _answering(
    encode: Callable[[dict[str, Any]], bytes | None],
) -> Callable[[hostile.Request, dict[str, Any]], bytes | None]:
    return lambda _request, message: encode(message)


async def _probe_raw(
    make_exporter: ExporterFactory,
    override: Callable[[hostile.Request, dict[str, Any]], bytes | None],
    steps: str = "[tools_list]",
) -> dict[str, float]:
    exporter = await make_exporter(config(_module("raw", steps=steps)))
    async with hostile.raw_serve(hostile.raw_mcp(override)) as server:
        return await exporter.probe(server.url, "raw")


async def test_interim_1xx_answers_are_skipped(make_exporter: ExporterFactory) -> None:
    """103 Early Hints (and 100 Continue) before the real answer are accepted (RFC 9110 §15.2)."""

    def early_hints(message: dict[str, Any]) -> bytes | None:
        if "id" not in message:
            return None
        body = _json_body(message)
        return (
            hostile.head("103 Early Hints", {"Link": "</style.css>; rel=preload"})
            + hostile.head("100 Continue")
            + hostile.head(
                "200 OK", {"Content-Type": "application/json", "Content-Length": str(len(body))}
            )
            + body
        )

    m = await _probe_raw(make_exporter, _answering(early_hints))
    assert m["probe_success"] == 1, failure(m)


async def test_conflicting_content_lengths_are_refused(make_exporter: ExporterFactory) -> None:
    """Two different Content-Length values are a framing error (RFC 9112 §6.3), not an answer."""

    def conflicting(message: dict[str, Any]) -> bytes | None:
        if message.get("method") != "initialize":
            return None
        body = _json_body(message)
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nContent-Length: {len(body) + 5}\r\n\r\n".encode()
            + body
        )

    m = await _probe_raw(make_exporter, _answering(conflicting))
    assert failure(m) == (UP, "initialize", "http_status")


@pytest.mark.parametrize(
    ("coding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send
        ("br", brotli.compress),
    ],
)
async def test_compressed_answers_are_decoded(
    make_exporter: ExporterFactory, coding: str, compress: Callable[[bytes], bytes]
) -> None:
    """gzip, deflate and br bodies are decoded (servers and CDNs send them regardless)."""

    def encoded(message: dict[str, Any]) -> bytes | None:
        if "id" not in message:
            return None
        body = compress(_json_body(message))
        return (
            hostile.head(
                "200 OK",
                {
                    "Content-Type": "application/json",
                    "Content-Encoding": coding,
                    "Content-Length": str(len(body)),
                },
            )
            + body
        )

    m = await _probe_raw(make_exporter, _answering(encoded))
    assert m["probe_success"] == 1, failure(m)


@pytest.mark.parametrize("coding", ["gzip", "br"])
async def test_decompression_bomb_stops_at_the_cap(
    make_exporter: ExporterFactory, coding: str
) -> None:
    """A small compressed body that inflates past the cap fails with response_too_large."""
    inflated = b'{"jsonrpc":"2.0","id":1,"result":{"x":"' + b"a" * (50 * 1024 * 1024)
    bomb = gzip.compress(inflated) if coding == "gzip" else brotli.compress(inflated, quality=1)
    assert len(bomb) < 1024 * 1024

    def encoded(message: dict[str, Any]) -> bytes | None:
        if message.get("method") != "initialize":
            return None
        headers = {
            "Content-Type": "application/json",
            "Content-Encoding": coding,
            "Content-Length": str(len(bomb)),
        }
        return hostile.head("200 OK", headers) + bomb

    m = await _probe_raw(make_exporter, _answering(encoded))
    assert failure(m) == (UP, "initialize", "response_too_large")


async def test_tool_call_is_never_sent_twice(make_exporter: ExporterFactory) -> None:
    """A kept-alive connection dropped after tools/call went out fails that step; the tool ran
    exactly once (a retry on a new connection would run it again)."""
    calls = 0
    connections: list[int] = []

    async def handler(
        request: hostile.Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal calls
        if request.method == "POST" and request.json().get("method") == "tools/call":
            calls += 1
            writer.transport.abort()  # the tool "ran"; the answer never comes
            return
        await hostile.raw_mcp()(request, reader, writer)

    exporter = await make_exporter(config(_module("raw", steps="[tools_list, tool_call]")))
    async with hostile.raw_serve(handler) as server:
        m = await exporter.probe(server.url, "raw")
        connections.append(server.connections)
    assert failure(m) == (UP, "tool_call", "http_status")
    assert calls == 1
    assert connections == [1], "every request before the tool call shared one connection"
