"""The `mcp` prober: a real MCP conversation, one timed step per function."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from typing import Any, Final

from .. import __version__, mcp_types
from ..config import PROTOCOL_VERSIONS, MCPModule, MCPProber
from ..mcp.jsonrpc import JSONRPCError
from ..mcp.legacy_sse import LegacySSE
from ..mcp.streamable_http import MODERN_VERSION, StreamableHTTP
from ..mcp.transport import Transport
from .auth import after_auth_failure, client_credentials_header
from .context import ProbeContext
from .deviations import check_ping_result, write_deviations
from .failure import Hop, ProbeFailure
from .findings import ServerInfo
from .oauth_metrics import write_oauth_metrics
from .prober import Prober, write_exchange_metrics
from .spec_checks import check_session_terminated, run_spec_checks
from .tool_surface import write_tool_surface

CLIENT_INFO: Final = {"name": "mcp-exporter", "version": __version__}
KNOWN_CAPABILITIES: Final = (
    "tools",
    "resources",
    "prompts",
    "logging",
    "completions",
    "experimental",
    "tasks",
)
_FALLBACK_STATUSES: Final = (400, 404, 405)
_LIST_STEPS: Final = {
    "tools_list": ("tools/list", "tools", "tools"),
    "resources_list": ("resources/list", "resources", "resources"),
    "prompts_list": ("prompts/list", "prompts", "prompts"),
}


def credential_headers(settings: MCPProber) -> dict[str, str]:
    """The module's static headers and bearer token, read now (files may rotate)."""
    headers = {name: secret.reveal() for name, secret in settings.headers.items()}
    if settings.bearer_token is not None:
        headers["Authorization"] = f"Bearer {settings.bearer_token.reveal()}"
    return headers


async def probe_mcp(ctx: ProbeContext) -> None:
    """Run the module's MCP conversation against ctx.target; raise ProbeFailure on failure."""
    settings = ctx.module.config_as(MCPModule).mcp
    hop = ctx.target_hop
    headers = {**credential_headers(settings), **ctx.target_headers}
    if settings.oauth2 is not None:
        headers["Authorization"] = await client_credentials_header(ctx, settings.oauth2)
    try:
        transport = await connect(ctx, ctx.target, settings, headers, hop)
    except ProbeFailure as failure:
        await after_auth_failure(ctx, failure)
        raise
    try:
        server = ctx.mcp.server
        assert server is not None  # the handshake (or handshake none) sets it
        for step in settings.steps:
            await _run_step(ctx, transport, step, server)
        if settings.spec_checks:
            await run_spec_checks(ctx, transport)
        _check_expectations(ctx, settings, hop)
    except asyncio.CancelledError:
        # The deadline passed: no time is left to end the session, and the failure must stay
        # attributed to the phase that was running.
        raise
    except BaseException as exc:
        await _end_session(ctx, transport, settings.delete_session)
        if isinstance(exc, ProbeFailure):
            await after_auth_failure(ctx, exc)
        raise
    await _end_session(ctx, transport, settings.delete_session)
    if settings.spec_checks:
        await check_session_terminated(ctx, transport)


def write_mcp_metrics(ctx: ProbeContext) -> None:
    """The mcp prober's metrics: the exchange, each configured step, spec deviations, and the
    OAuth steps of a token request or of discovery after an auth failure."""
    write_exchange_metrics(ctx)
    reg = ctx.registry
    steps: list[str] = list(ctx.module.config_as(MCPModule).mcp.steps)
    if "session_delete" in ctx.steps:
        steps.append("session_delete")
    for step in steps:
        reg.set(
            "probe_mcp_step_success",
            "Whether each configured step passed.",
            1 if ctx.steps.get(step) else 0,
            {"step": step},
        )
    write_deviations(ctx)
    write_oauth_metrics(ctx)


PROBER: Final = Prober(probe_mcp, write_mcp_metrics)


async def _end_session(ctx: ProbeContext, transport: Transport, delete: bool) -> None:
    try:
        await transport.close(delete_session=delete)
    except (ProbeFailure, OSError) as exc:
        # Ending the session is hygiene, not a configured step: it never fails the probe.
        ctx.steps["session_delete"] = False
        ctx.log.warning("session delete failed", error=str(exc)[:200])


async def connect(
    ctx: ProbeContext, url: str, settings: MCPProber, headers: dict[str, str], hop: Hop
) -> Transport:
    """Pick the transport and complete the handshake (initialize or server/discover)."""
    if settings.transport == "sse":
        return await _legacy(ctx, url, headers, hop)
    transport = StreamableHTTP(ctx, url, headers, hop)
    if settings.handshake == "none":
        # Nothing is learnt about the server: steps are not gated on capabilities, and no
        # server info is reported.
        transport.protocol_version = settings.protocol_version
        ctx.mcp.server = ServerInfo("", "", settings.protocol_version, transport.name, None)
        ctx.log.info("no handshake: sending the steps directly")
        return transport
    if settings.protocol_version == MODERN_VERSION:
        await _discover(ctx, transport)
        return transport
    try:
        await _initialize(ctx, transport, settings.protocol_version)
    except ProbeFailure as failure:
        fallback = (
            settings.transport == "auto"
            and ctx.last_status in _FALLBACK_STATUSES
            and failure.reason in ("http_status", "session_missing")
        )
        if not fallback:
            raise
        ctx.log.info(
            "streamable HTTP initialize failed; trying the legacy SSE transport",
            status=ctx.last_status,
        )
        try:
            return await _legacy(ctx, url, headers, hop)
        except ProbeFailure as legacy_failure:
            ctx.log.info("legacy SSE also failed", reason=legacy_failure.reason)
            raise failure from None
    await _initialized(ctx, transport)
    return transport


async def _legacy(ctx: ProbeContext, url: str, headers: dict[str, str], hop: Hop) -> Transport:
    transport = LegacySSE(ctx, url, headers, hop)
    with ctx.step("sse_connect", hop):
        await transport.open("sse_connect")
    await _initialize(ctx, transport, "2024-11-05")
    await _initialized(ctx, transport)
    return transport


async def _initialize(ctx: ProbeContext, transport: Transport, version: str) -> None:
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": CLIENT_INFO}
    with ctx.step("initialize", transport.hop):
        try:
            result = await transport.call("initialize", params, "initialize")
        except JSONRPCError as error:
            ctx.jsonrpc_error_code = error.code
            if "protocol version" in error.message.lower():
                raise ProbeFailure(
                    transport.hop, "initialize", "protocol_version_unsupported", error.detail
                ) from None
            raise
    offered = result.get("protocolVersion")
    try:
        mcp_types.initialize_result(result, offered if isinstance(offered, str) else version)
    except mcp_types.SchemaViolation as violation:
        raise ProbeFailure(
            transport.hop, "initialize", "initialize_invalid", f"initialize result: {violation}"
        ) from None
    negotiated: str = result["protocolVersion"]
    capabilities: dict[str, Any] = result["capabilities"]
    server_info: dict[str, Any] = result["serverInfo"]
    if negotiated not in PROTOCOL_VERSIONS or negotiated == MODERN_VERSION:
        raise ProbeFailure(
            transport.hop,
            "initialize",
            "protocol_version_unsupported",
            f"server offered protocol version {negotiated[:40]!r}, which this client lacks",
        )
    transport.protocol_version = negotiated
    _record_server(ctx, transport, server_info, negotiated, capabilities)
    ctx.log.info("initialized", protocol_version=negotiated, transport=transport.name)


async def _initialized(ctx: ProbeContext, transport: Transport) -> None:
    with ctx.step("initialized", transport.hop):
        await transport.notify("notifications/initialized", None, "initialized")


async def _discover(ctx: ProbeContext, transport: StreamableHTTP) -> None:
    """The stateless revision's handshake: one server/discover request."""
    transport.protocol_version = MODERN_VERSION
    with ctx.step("discover", transport.hop):
        try:
            result = await transport.call("server/discover", modern_params({}), "discover")
        except JSONRPCError as error:
            ctx.jsonrpc_error_code = error.code
            if error.code == -32022 or ctx.last_status == 400:
                raise ProbeFailure(
                    transport.hop, "discover", "protocol_version_unsupported", error.detail
                ) from None
            raise
        except ProbeFailure as failure:
            # A server of an earlier revision rejects the stateless request with a 400.
            if ctx.last_status == 400 and failure.reason == "http_status":
                raise ProbeFailure(
                    transport.hop,
                    "discover",
                    "protocol_version_unsupported",
                    f"server rejected a {MODERN_VERSION} request: {failure.detail}",
                ) from None
            raise
    supported = result.get("supportedVersions")
    capabilities = result.get("capabilities")
    if not isinstance(supported, list) or not isinstance(capabilities, dict):
        raise ProbeFailure(
            transport.hop,
            "discover",
            "initialize_invalid",
            "server/discover result lacks supportedVersions or capabilities",
        )
    if MODERN_VERSION not in supported:
        raise ProbeFailure(
            transport.hop,
            "discover",
            "protocol_version_unsupported",
            f"server supports {', '.join(map(str, supported))[:120]}, not {MODERN_VERSION}",
        )
    server_info = result.get("serverInfo")
    if not isinstance(server_info, dict):
        meta = result.get("_meta")
        server_info = (
            meta.get("io.modelcontextprotocol/serverInfo") if isinstance(meta, dict) else None
        )
    _record_server(
        ctx,
        transport,
        server_info if isinstance(server_info, dict) else {},
        MODERN_VERSION,
        capabilities,
    )


def modern_params(params: dict[str, Any]) -> dict[str, Any]:
    """2026-07-28 carries version, client info and capabilities in every request's _meta."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
        "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return {**params, "_meta": meta}


def _record_server(
    ctx: ProbeContext,
    transport: Transport,
    server_info: dict[str, Any],
    version: str,
    capabilities: dict[str, Any],
) -> None:
    # Not cut here: every surface redacts, then bounds (a cut could split an echoed secret).
    server = ServerInfo(
        name=str(server_info.get("name", "")),
        version=str(server_info.get("version", "")),
        protocol_version=version,
        transport=transport.name,
        capabilities=capabilities,
    )
    ctx.mcp.server = server
    reg = ctx.registry
    reg.set(
        "probe_mcp_server_info",
        "Server implementation and negotiated protocol.",
        1,
        {
            "server_name": server.name,
            "server_version": server.version,
            "protocol_version": version,
            "transport": transport.name,
        },
    )
    for name in KNOWN_CAPABILITIES:
        reg.set(
            "probe_mcp_capability",
            "Whether the server declared the capability (1) or not (0).",
            1 if name in capabilities else 0,
            {"capability": name},
        )


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


async def _run_step(ctx: ProbeContext, transport: Transport, step: str, server: ServerInfo) -> None:
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
        # A gateway's debug headers describe the request they answer (read by litellm.py).
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


def _check_expectations(ctx: ProbeContext, settings: MCPProber, hop: Hop) -> None:
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
