"""An MCP server from the official SDK (low-level `Server`) that lists exactly the tools a test
gives it, as a JSON file: `python tools_server.py --tools tools.json --port N [--stateless]`.

The SDK's high-level server derives schemas from Python signatures, so they are always valid;
the low-level server sends a tool list as written, the way a hand-written or proxied server does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import mcp_types as types
import uvicorn
from mcp.server.lowlevel import Server
from mcp.server.transport_security import TransportSecuritySettings


def build(tools: list[dict[str, Any]]) -> Server[Any]:
    listed = [types.Tool.model_validate(tool) for tool in tools]

    async def list_tools(
        _ctx: Any, _params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def call_tool(_ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        text = json.dumps(params.arguments or {}, sort_keys=True)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)])

    return Server("tools-server", version="1.0.0", on_list_tools=list_tools, on_call_tool=call_tool)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tools", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stateless", action="store_true")
    args = parser.parse_args()
    server = build(json.loads(args.tools.read_text(encoding="utf-8")))
    app = server.streamable_http_app(
        stateless_http=args.stateless,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
