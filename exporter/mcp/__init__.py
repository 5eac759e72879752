"""MCP on the wire: the Streamable HTTP and legacy HTTP+SSE transports, SSE parsing, JSON-RPC."""
