"""An MCP server from the official SDK, in the mode a test asks for.

Run as a script: `python sdk_server.py --mode stateful|stateless|sse [--json] --port N`.
Every request is recorded (method, path, whether it carried a session id) and served back at
`/_requests`, so tests can see, for example, that the probe deleted its session.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import hypercorn.asyncio
import uvicorn
from hypercorn.config import Config
from mcp import types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata
from starlette.types import Receive, Scope, Send

REQUESTS: list[dict[str, Any]] = []


def build(asks_back: bool = False) -> MCPServer:
    server = MCPServer("sdk-test-server", version="9.9.9")
    if asks_back:
        add_asks_back(server)

    @server.tool()
    def echo(text: str) -> str:
        """Return the text."""
        return text

    @server.tool()
    def fail(message: str = "boom") -> str:
        """Always fails: the SDK turns the exception into an isError result."""
        raise ValueError(message)

    @server.tool()
    async def slow(seconds: float) -> str:
        """Sleep, then answer."""
        await asyncio.sleep(seconds)
        return "done"

    @server.resource("test://one")
    def one() -> str:
        """A resource."""
        return "one"

    @server.prompt()
    def greet(name: str) -> str:
        """A prompt."""
        return f"Hello {name}"

    return server


def add_asks_back(server: MCPServer) -> None:
    """A tool that, mid-call, sends the client requests on the call's own response stream."""

    @server.tool()
    async def asks_back(ctx: Context, kinds: str = "ping,sampling,elicitation") -> str:
        """Ask the client back (ping, sampling, elicitation), then say how each was answered."""
        related = ServerMessageMetadata(related_request_id=ctx.request_id)
        outcomes = []
        for kind in kinds.split(","):
            try:
                if kind == "ping":
                    await ctx.session.send_request(
                        types.PingRequest(), types.EmptyResult, metadata=related
                    )
                elif kind == "sampling":
                    await ctx.session.create_message(
                        [
                            types.SamplingMessage(
                                role="user", content=types.TextContent(type="text", text="hi")
                            )
                        ],
                        max_tokens=5,
                        related_request_id=ctx.request_id,
                    )
                elif kind == "elicitation":
                    await ctx.session.elicit_form(
                        "Your name?",
                        {"type": "object", "properties": {"name": {"type": "string"}}},
                        related_request_id=ctx.request_id,
                    )
                outcomes.append(f"{kind}=ok")
            except MCPError as exc:
                outcomes.append(f"{kind}={exc.error.code}")
        return " ".join(outcomes)


class Recorder:
    """ASGI middleware recording each request; answers /_requests itself."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/_requests":
            body = json.dumps(REQUESTS).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        REQUESTS.append(
            {
                "method": scope["method"],
                "path": scope["path"],
                "session": "mcp-session-id" in headers,
                "protocol_version": headers.get("mcp-protocol-version"),
            }
        )
        await self.app(scope, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["stateful", "stateless", "sse"], required=True)
    parser.add_argument("--json", action="store_true")
    # The SDK's own Host/Origin validation, as it is on by default for a localhost server.
    parser.add_argument("--origin-protection", action="store_true")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--h2", action="store_true", help="serve with hypercorn, HTTP/2 (TLS: ALPN h2 only)"
    )
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    parser.add_argument("--asks-back", action="store_true", help="add the asks_back tool")
    args = parser.parse_args()
    server = build(args.asks_back)
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    if args.origin_protection:
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*"],
            allowed_origins=["http://127.0.0.1:*"],
        )
    if args.mode == "sse":
        app = server.sse_app(transport_security=security)
    else:
        app = server.streamable_http_app(
            json_response=args.json,
            stateless_http=args.mode == "stateless",
            transport_security=security,
        )
    if args.h2:
        serve_h2(Recorder(app), args.port, args.certfile, args.keyfile)
        return
    uvicorn.run(Recorder(app), host="127.0.0.1", port=args.port, log_level="warning")


def serve_h2(app: Any, port: int, certfile: str | None, keyfile: str | None) -> None:
    """Hypercorn: with TLS it offers only h2 by ALPN; in clear text it takes h2 prior knowledge."""
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.loglevel = "WARNING"
    if certfile and keyfile:
        config.certfile, config.keyfile = certfile, keyfile
        config.alpn_protocols = ["h2"]
    asyncio.run(hypercorn.asyncio.serve(app, config))


if __name__ == "__main__":
    main()
