"""A second real LiteLLM 1.106.0 in front of upstreams that fail in ways SDK servers do not.

`tests/peers/litellm_proxy.py` proxies well-behaved SDK servers with different credentials; this
peer proxies a small hand-written HTTP server (in the test process) whose paths misbehave, plus
one SDK `open` upstream for the aggregate:

- `status500`  every request answered 500 `text/plain`
- `html`       every request answered 200 `text/html` (a login page, a wrong URL)
- `forbidden`  every request answered 403 without a challenge
- `ratelimit`  every request answered 429 with `Retry-After`
- `notfound`   every request answered 404 (the upstream path is wrong)
- `slowlist`   a JSON-answering MCP server whose `tools/list` takes longer than LiteLLM's
               listing timeout (`LITELLM_MCP_TOOL_LISTING_TIMEOUT`, set low here)
- `slowcall`   the same server with a fast listing and a `tools/call` slower than the server's
               `timeout` in LiteLLM's config
- `jsonmcp`    the same server, fast: an upstream answering `application/json`, not SSE
- `stdio`      an SDK server over stdio (`transport: stdio`, with `LITELLM_ENABLE_MCP_STDIO`)
- `stdiodead`  a stdio command that exits at once
- `nxdomain`   an upstream host name that does not resolve
- `open`       the SDK upstream (tests/peers/upstreams.py), in access group `probe-group` with
               `status500`
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.peers.litellm_proxy import (
    Upstream,
    _http_ready,
    _terminate,
    free_port,
    launch_litellm,
)

SLOW_SECONDS = 4.0
LISTING_TIMEOUT = 1.5
CALL_TIMEOUT = 1.5
FAULT_SERVERS = (
    "status500",
    "html",
    "forbidden",
    "ratelimit",
    "notfound",
    "slowlist",
    "slowcall",
    "jsonmcp",
)
GROUP = "probe-group"
MINI_TOOL = {"name": "nap", "inputSchema": {"type": "object", "properties": {}}}


class _FaultHandler(BaseHTTPRequestHandler):
    server: _FaultServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        return

    def _answer(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        kind = self.path.strip("/").split("/")[0]
        try:
            message = json.loads(raw) if raw else {}
        except ValueError:
            message = {}
        method = message.get("method") if isinstance(message, dict) else None
        self.server.requests.append({"kind": kind, "http": self.command, "rpc_method": method})
        if kind == "status500":
            self._answer(500, b"upstream exploded", "text/plain")
        elif kind == "html":
            page = b"<!doctype html><html><body>Please sign in</body></html>"
            self._answer(200, page, "text/html; charset=utf-8")
        elif kind == "forbidden":
            self._answer(403, b'{"error":"forbidden"}', "application/json")
        elif kind == "ratelimit":
            self._answer(429, b'{"error":"slow down"}', "application/json", retry_after="1")
        elif kind in ("slowlist", "slowcall", "jsonmcp"):
            self._mini_mcp(kind, message)
        else:
            self._answer(404, b"no such path", "text/plain")

    def _mini_mcp(self, kind: str, message: Any) -> None:
        """A minimal MCP server answering every request with `application/json`."""
        if self.command == "GET":
            self._answer(405, b"", "text/plain")
            return
        if self.command == "DELETE":
            self._answer(200, b"", "text/plain")
            return
        if not isinstance(message, dict) or "id" not in message:
            self._answer(202, b"", "application/json")
            return
        method = message.get("method")
        result: dict[str, Any]
        if method == "initialize":
            result = {
                "protocolVersion": message.get("params", {}).get("protocolVersion", "2025-06-18"),
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": f"mini-{kind}", "version": "1"},
            }
        elif method == "tools/list":
            if kind == "slowlist":
                time.sleep(SLOW_SECONDS)
            result = {"tools": [MINI_TOOL]}
        elif method == "tools/call":
            if kind == "slowcall":
                time.sleep(SLOW_SECONDS)
            result = {"content": [{"type": "text", "text": "rested"}], "isError": False}
        else:
            result = {}
        body = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}).encode()
        self._answer(200, body, "application/json", mcp_session_id="mini-" + kind)

    do_GET = _handle  # noqa: N815 - http.server's names
    do_POST = _handle  # noqa: N815
    do_DELETE = _handle  # noqa: N815


class _FaultServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _FaultHandler)
        self.requests: list[dict[str, Any]] = []


@dataclass
class FaultGateway:
    """The running LiteLLM with the fault upstreams."""

    base_url: str
    master_key: str
    fault_base: str
    fault: _FaultServer
    open_upstream: Upstream
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def mcp_url(self, server: str | None = None, layout: str = "mcp/{server}") -> str:
        if server is None:
            return f"{self.base_url}/mcp"
        return f"{self.base_url}/" + layout.format(server=server)

    def upstream_url(self, server: str) -> str:
        return f"{self.fault_base}/{server}/mcp"

    def requests(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.fault.requests if r["kind"] == kind]

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


STDIO_SERVER = """
from mcp.server.mcpserver import MCPServer

server = MCPServer("stdio-upstream")


@server.tool()
def echo(text: str) -> str:
    \"\"\"Returns text.\"\"\"
    return text


server.run("stdio")
"""


def _config(gateway_fault_base: str, open_url: str, stdio_script: Path) -> dict[str, Any]:
    servers: dict[str, dict[str, Any]] = {
        name: {
            "url": f"{gateway_fault_base}/{name}/mcp",
            "transport": "http",
            "auth_type": "none",
        }
        for name in FAULT_SERVERS
    }
    # LiteLLM's listing deadline is max(server timeout, LITELLM_MCP_TOOL_LISTING_TIMEOUT), and
    # the server timeout defaults to 60 s: both must be low for a listing to time out.
    servers["slowlist"]["timeout"] = LISTING_TIMEOUT
    servers["slowcall"]["timeout"] = CALL_TIMEOUT
    servers["nxdomain"] = {
        "url": "http://mcp-upstream.invalid/mcp",
        "transport": "http",
        "auth_type": "none",
    }
    servers["status500"]["access_groups"] = [GROUP]
    servers["stdio"] = {
        "transport": "stdio",
        "command": sys.executable,
        "args": [str(stdio_script)],
    }
    servers["stdiodead"] = {
        "transport": "stdio",
        "command": sys.executable,
        "args": ["-c", "raise SystemExit(3)"],
    }
    servers["open"] = {
        "url": open_url,
        "transport": "http",
        "auth_type": "none",
        "access_groups": [GROUP],
    }
    return {
        "model_list": [],
        "mcp_servers": servers,
        "litellm_settings": {"num_retries": 0, "request_timeout": 30},
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }


def start_fault_gateway(workdir: Path) -> FaultGateway:
    """The fault server, the SDK `open` upstream, then LiteLLM in front of them."""
    workdir.mkdir(parents=True, exist_ok=True)
    fault = _FaultServer(free_port())
    threading.Thread(target=fault.serve_forever, daemon=True).start()
    fault_base = f"http://127.0.0.1:{fault.server_address[1]}"
    upstream = Upstream(
        name="open",
        kind="open",
        port=free_port(),
        events_path=workdir / "upstream-open.jsonl",
        log_path=workdir / "upstream-open.log",
    )
    upstream.start()
    config_path = workdir / "litellm-config.yaml"
    stdio_script = workdir / "stdio_upstream.py"
    stdio_script.write_text(STDIO_SERVER)
    config = _config(fault_base, upstream.url, stdio_script)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    port, master_key, log_path, proc = launch_litellm(
        workdir,
        config_path,
        {
            "LITELLM_MCP_TOOL_LISTING_TIMEOUT": str(LISTING_TIMEOUT),
            "LITELLM_ENABLE_MCP_STDIO": "true",
        },
    )
    gateway = FaultGateway(
        base_url=f"http://127.0.0.1:{port}",
        master_key=master_key,
        fault_base=fault_base,
        fault=fault,
        open_upstream=upstream,
        log_path=log_path,
        process=proc,
    )
    try:
        _http_ready(f"{gateway.base_url}/health/liveliness", 90, proc, log_path)
    except BaseException:
        stop_fault_gateway(gateway)
        raise
    return gateway


def stop_fault_gateway(gateway: FaultGateway) -> None:
    _terminate(gateway.process)
    gateway.process = None
    gateway.open_upstream.stop()
    gateway.fault.shutdown()
    gateway.fault.server_close()


if __name__ == "__main__":
    import tempfile

    gw = start_fault_gateway(Path(tempfile.mkdtemp(prefix="litellm-faults-")))
    print(json.dumps({"base_url": gw.base_url, "key": gw.master_key, "log": str(gw.log_path)}))
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    finally:
        stop_fault_gateway(gw)
