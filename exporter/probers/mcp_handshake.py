"""The MCP handshake the `mcp` prober (and the gateway prober) opens a conversation with.

`connect` picks the transport (Streamable HTTP, legacy HTTP+SSE, or the fallback from one to the
other) and completes the handshake of the configured revision: initialize and
notifications/initialized, the stateless revision's server/discover, or none at all. It records
what the server said about itself (`probe_mcp_server_info`, `probe_mcp_capability`) on the probe
context, where the steps after the handshake find it; `modern_params` shapes every request of the
stateless revision.
"""

from __future__ import annotations

from typing import Any, Final

from .. import __version__, mcp_types
from ..config import PROTOCOL_VERSIONS, MCPProber
from ..mcp.jsonrpc import JSONRPCError
from ..mcp.legacy_sse import LegacySSE
from ..mcp.streamable_http import MODERN_VERSION, StreamableHTTP
from ..mcp.transport import Transport
from .context import ProbeContext
from .failure import Hop, ProbeFailure
from .findings import ServerInfo

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
