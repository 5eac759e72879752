"""A small demo MCP server (official SDK) so the quick start probes something real offline."""

from __future__ import annotations

from typing import Any


def build_server() -> Any:
    """An MCP server with a few tools, a resource and a prompt."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("mcp-exporter-demo", version="1.0.0")

    @server.tool()
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.resource("demo://greeting")
    def greeting() -> str:
        """A static greeting."""
        return "hello from the demo server"

    @server.prompt()
    def summarize(topic: str) -> str:
        """Ask for a summary of a topic."""
        return f"Summarize {topic} in one sentence."

    return server


def serve(host: str, port: int) -> None:
    """Serve the demo server over Streamable HTTP at /mcp (blocking)."""
    import logging

    import uvicorn

    # The SDK logs each session id at info level; the demo keeps its output to what matters.
    logging.getLogger("mcp").setLevel(logging.WARNING)
    app = build_server().streamable_http_app(host=host)
    uvicorn.run(app, host=host, port=port, log_level="warning")
