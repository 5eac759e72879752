"""LiteLLM as an MCP gateway: its headers (`headers`), what they mean (`diagnosis`), and its
completion API with an embedded MCP tool (`completion`)."""
