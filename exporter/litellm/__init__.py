"""LiteLLM as an MCP gateway: its headers (`headers`) and what they mean (`diagnosis`)."""
