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

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send

REQUESTS: list[dict[str, Any]] = []


def build() -> MCPServer:
    server = MCPServer("sdk-test-server", version="9.9.9")

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
    args = parser.parse_args()
    server = build()
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
    uvicorn.run(Recorder(app), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
