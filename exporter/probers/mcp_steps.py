"""The steps of an MCP conversation after its handshake, and the module's expectations.

Each configured step is one timed phase: tools/resources/prompts listing (following pagination
cursors up to `limits.max_pages`, gated on the capabilities the server declared), ping, and one
tools/call checked against its expected outcome. The tools listed feed the tool fingerprint and
the tool-surface metrics; `check_expectations` then holds the negotiated version, the declared
capabilities and the listed tools to what the module requires.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Final

from .. import mcp_types
from ..config import PROTOCOL_VERSIONS, MCPModule, MCPProber
from ..mcp.jsonrpc import JSONRPCError
from ..mcp.streamable_http import MODERN_VERSION, StreamableHTTP
from ..mcp.transport import Transport
from .context import ProbeContext
from .deviations import check_ping_result
from .failure import Hop, ProbeFailure
from .findings import ServerInfo
from .mcp_handshake import modern_params
from .tool_surface import write_tool_surface

_LIST_STEPS: Final = {
    "tools_list": ("tools/list", "tools", "tools"),
    "resources_list": ("resources/list", "resources", "resources"),
    "prompts_list": ("prompts/list", "prompts", "prompts"),
}


async def _request(
    ctx: ProbeContext, transport: Transport, method: str, params: dict[str, Any], phase: str
) -> dict[str, Any]:
    if transport.protocol_version == MODERN_VERSION:
        params = modern_params(params)
    try:
        return await transport.call(method, params, phase)
    except JSONRPCError as error:
        ctx.jsonrpc_error_code = error.code
        raise


async def run_step(ctx: ProbeContext, transport: Transport, step: str, server: ServerInfo) -> None:
    """Run one configured step and record whether it passed; raise ProbeFailure if not."""
    hop = transport.hop
    if isinstance(transport, StreamableHTTP):
        transport.response_headers = {}
    try:
        if step in _LIST_STEPS:
            await _list(ctx, transport, step, server)
        elif step == "ping":
            with ctx.step("ping", hop):
                check_ping_result(ctx, await _request(ctx, transport, "ping", {}, "ping"))
        elif step == "tool_call":
            await _tool_call(ctx, transport)
    except ProbeFailure:
        ctx.steps[step] = False
        raise
    finally:
        # A gateway's debug headers describe the request they answer (read by litellm_gateway.py).
        if isinstance(transport, StreamableHTTP):
            ctx.mcp.step_headers[step] = transport.response_headers
    ctx.steps[step] = True
    ctx.log.info("step passed", step=step)


async def _list(ctx: ProbeContext, transport: Transport, step: str, server: ServerInfo) -> None:
    method, capability, key = _LIST_STEPS[step]
    hop = transport.hop
    declared = server.capabilities  # None without a handshake: nothing to check against
    if declared is not None and capability not in declared:
        raise ProbeFailure(
            hop,
            step,
            "capability_missing",
            f"{method} is configured but the server did not declare the {capability} capability",
        )
    limits = ctx.module.config_as(MCPModule).mcp.limits
    items: list[Any] = []
    cursor: str | None = None
    seen: set[str] = set()
    with ctx.step(step, hop):
        for _page in range(limits.max_pages):
            params: dict[str, Any] = {} if cursor is None else {"cursor": cursor}
            result = await _request(ctx, transport, method, params, step)
            try:
                page = mcp_types.list_result(result, key, server.protocol_version)
            except mcp_types.SchemaViolation as violation:
                raise ProbeFailure(
                    hop, step, "jsonrpc_invalid", f"{method} result: {violation}"
                ) from None
            items.extend(page)
            if step == "tools_list":
                ctx.mcp.tools_result = result
            next_cursor = result.get("nextCursor")
            if next_cursor is None:
                break
            if not isinstance(next_cursor, str) or next_cursor in seen:
                raise ProbeFailure(
                    hop, step, "jsonrpc_invalid", f"{method} repeated a pagination cursor"
                )
            seen.add(next_cursor)
            cursor = next_cursor
        else:
            raise ProbeFailure(
                hop,
                step,
                "response_too_large",
                f"{method} has more than {limits.max_pages} pages (limits.max_pages)",
            )
    ctx.registry.set(f"probe_mcp_{key}", f"Number of {key} the server listed.", len(items))
    ctx.log.info("listed", method=method, count=len(items), pages=len(seen) + 1)
    if step == "tools_list":
        ctx.mcp.tools = items
        ctx.registry.set(
            "probe_mcp_tools_fingerprint",
            "Stable number derived from the canonical tool list; changes when tools change.",
            tools_fingerprint(items),
        )
        write_tool_surface(ctx, items)


def tools_fingerprint(tools: list[Any]) -> int:
    """A number that changes whenever a tool's name, schema or description changes.

    48 bits keeps it exact in a float64 sample value.
    """
    canonical = sorted(
        json.dumps(t, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for t in tools
    )
    digest = hashlib.sha256("\n".join(canonical).encode("utf-8")).digest()
    return int.from_bytes(digest[:6], "big")


async def _tool_call(ctx: ProbeContext, transport: Transport) -> None:
    settings = ctx.module.config_as(MCPModule).mcp
    call = settings.tool_call
    assert call is not None
    hop = transport.hop
    with ctx.step("tool_call", hop):
        result = await _request(
            ctx,
            transport,
            "tools/call",
            {"name": call.name, "arguments": call.arguments},
            "tool_call",
        )
    try:
        mcp_types.call_tool_result(result, _server(ctx).protocol_version)
    except mcp_types.SchemaViolation as violation:
        raise ProbeFailure(
            hop, "tool_call", "jsonrpc_invalid", f"tools/call result: {violation}"
        ) from None
    content = result["content"]
    texts = [
        str(block.get("text", ""))
        for block in content
        if isinstance(block, dict) and block.get("type") == "text"
    ]
    ctx.mcp.tool_result_text = "\n".join(texts)[:2000]
    is_error = result.get("isError") is True
    if is_error != call.expect.is_error:
        if is_error:
            excerpt = " ".join(" ".join(texts).split())[:200]
            raise ProbeFailure(
                hop, "tool_call", "tool_error", f"tool {call.name} returned isError: {excerpt}"
            )
        raise ProbeFailure(
            hop, "tool_call", "expectation_failed", f"tool {call.name} was expected to fail"
        )
    if call.expect.text_regex is not None and not re.search(
        call.expect.text_regex, "\n".join(texts)
    ):
        raise ProbeFailure(
            hop,
            "tool_call",
            "expectation_failed",
            f"tool {call.name} result does not match {call.expect.text_regex!r}",
        )


def check_expectations(ctx: ProbeContext, settings: MCPProber, hop: Hop) -> None:
    """Hold what the handshake and the steps found to the module's `expect` block."""
    expect = settings.expect
    server = _server(ctx)
    version = server.protocol_version
    if expect.protocol_versions is not None and version not in expect.protocol_versions:
        raise ProbeFailure(
            hop,
            "initialize",
            "protocol_version_unsupported",
            f"negotiated {version}, module allows {', '.join(expect.protocol_versions)}",
        )
    if expect.min_protocol_version is not None and PROTOCOL_VERSIONS.index(
        version
    ) < PROTOCOL_VERSIONS.index(expect.min_protocol_version):
        raise ProbeFailure(
            hop,
            "initialize",
            "protocol_version_unsupported",
            f"negotiated {version}, older than the required {expect.min_protocol_version}",
        )
    for capability in expect.capabilities:
        if capability not in (server.capabilities or {}):
            raise ProbeFailure(
                hop, "initialize", "capability_missing", f"server lacks capability {capability}"
            )
    tools = ctx.mcp.tools
    if tools is None:
        return
    if len(tools) < expect.min_tools:
        raise ProbeFailure(
            hop,
            "tools_list",
            "expectation_failed",
            f"{len(tools)} tools listed, expected at least {expect.min_tools}",
        )
    names = {t.get("name") for t in tools if isinstance(t, dict)}
    missing = [name for name in expect.required_tools if name not in names]
    if missing:
        raise ProbeFailure(
            hop, "tools_list", "expectation_failed", f"required tools missing: {', '.join(missing)}"
        )


def _server(ctx: ProbeContext) -> ServerInfo:
    """The server the handshake found (every step runs after it)."""
    server = ctx.mcp.server
    assert server is not None
    return server
