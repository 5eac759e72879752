"""mcp-exporter: a Prometheus blackbox-style exporter for MCP servers and gateways."""

__version__ = "0.1.0"
