"""The gateway prober's follow-up requests: what it asks LiteLLM beyond the MCP conversation, and
only when the conversation's answers leave a question open. The gateway's server list names the
hashed server ids of its debug headers and tells an ignored `x-mcp-servers` name from an access
group; a sessionless `tools/list` (on the aggregate endpoint, or on a failed server's own)
explains a failure. None of them changes what the probe reports about its own exchange, and
naming never fails a probe."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..config import LiteLLMGateway, MCPProber
from ..litellm.headers import (
    DebugHeaders,
    Outcome,
    gateway_headers,
    name_label,
    parse_debug_headers,
)
from ..mcp.streamable_http import StreamableHTTP
from .context import ProbeContext
from .failure import GATEWAY_HOP, ProbeFailure
from .litellm_servers import (
    SERVER_LIST_PATH,
    get_json_body,
    key_headers,
    parse_server_list,
    selectable_names,
)
from .mcp import credential_headers


async def _server_list(ctx: ProbeContext, gateway: LiteLLMGateway) -> Any:
    """The gateway's `GET /v1/mcp/server` on the target's origin, with its key (phase
    server_list); raises ProbeFailure, OSError or ValueError."""
    parts = urlsplit(ctx.target)
    url = f"{parts.scheme}://{parts.netloc}{SERVER_LIST_PATH}"
    api_key = gateway.api_key.reveal() if gateway.api_key is not None else None
    headers = key_headers(api_key, gateway.key_header)
    with ctx.step("server_list", GATEWAY_HOP):
        ctx.record_request("GET", url, headers, None, "server_list")
        return await get_json_body(ctx.http, url, headers, GATEWAY_HOP, "server_list")


async def unknown_selected_servers(
    ctx: ProbeContext, gateway: LiteLLMGateway, outcomes: Mapping[str, Outcome]
) -> list[str]:
    """The `x-mcp-servers` names LiteLLM ignored: it drops unknown (or forbidden) names silently
    when another name is usable, so they have no outcome. A name without an outcome may be an
    access group (its servers have the outcomes), so only names that the gateway's server list
    (`/v1/mcp/server`, asked only then) knows as no server, alias or access group count."""
    if not gateway.servers or not outcomes:
        return []
    seen = {server.lower() for server in outcomes}
    missing = [name for name in gateway.servers if name_label(name).lower() not in seen]
    if not missing:
        return []
    try:
        body = await _server_list(ctx, gateway)
        known = selectable_names(body)
    except (ProbeFailure, ValueError, OSError) as exc:
        ctx.log.warning("could not check the selected servers' names", error=str(exc)[:200])
        ctx.note(
            "x-mcp-servers names without an outcome, not checked against the gateway's server "
            f"list: {', '.join(missing)}"
        )
        return []
    unknown = [name for name in missing if name.lower() not in known]
    if unknown:
        ctx.log.info("x-mcp-servers names the gateway ignored", names=unknown)
    return unknown


async def named_server_ids(ctx: ProbeContext, gateway: LiteLLMGateway) -> Mapping[str, str]:
    """server_ids with the gateway's own names for the rest (its /v1/mcp/server list); on any
    failure only the configured names, and a warning: naming never fails the probe."""
    try:
        body = await _server_list(ctx, gateway)
        listed = parse_server_list(body)
    except (ProbeFailure, ValueError, OSError) as exc:
        ctx.log.warning("could not name the gateway's server ids", error=str(exc)[:200])
        return gateway.server_ids
    return {s.server_id: s.server_name for s in listed if s.server_id} | dict(gateway.server_ids)


async def side_tools_list(
    ctx: ProbeContext, settings: MCPProber, gateway: LiteLLMGateway, url: str, *, keep_servers: bool
) -> tuple[dict[str, Any], DebugHeaders] | None:
    """One sessionless `tools/list` on the gateway (LiteLLM answers it), asked only to explain
    a failure: its result and debug headers, or None. What the probe reports about its own
    exchange (status, challenge) stays as it was."""
    headers = {**credential_headers(settings), **gateway_headers(gateway)}
    if not keep_servers:
        headers.pop("x-mcp-servers", None)
    transport = StreamableHTTP(ctx, url, headers, GATEWAY_HOP)
    status, challenge = ctx.last_status, ctx.auth_challenge
    try:
        result = await transport.call("tools/list", {}, "tools_list")
    except (ProbeFailure, OSError) as exc:
        ctx.log.info("the gateway's side listing failed", error=str(exc)[:200])
        return None
    finally:
        ctx.last_status, ctx.auth_challenge = status, challenge
    return result, parse_debug_headers(transport.response_headers, gateway.server_ids)


async def debug_for_failed_server(
    ctx: ProbeContext,
    settings: MCPProber,
    gateway: LiteLLMGateway,
    debug: DebugHeaders,
    outcomes: Mapping[str, Outcome],
    ignore: frozenset[str],
) -> DebugHeaders:
    """The debug headers that decide the first failed upstream's reason.

    On the aggregate `/mcp` LiteLLM keys the per-server resolutions by hashed server ids; when
    `server_ids` does not name the failed server, its resolution (did the gateway send it a
    credential? did its own token request fail?) is asked from the server's own URL
    (`{target}/{server}`, one `tools/list`, only after such a failure). The metrics keep what
    the probe's own answer said.
    """
    failed = next(
        (
            (server, outcome)
            for server, outcome in sorted(outcomes.items())
            if outcome.status != "ok" and server not in ignore
        ),
        None,
    )
    if (
        failed is None
        or failed[1].status not in ("auth_required", "internal")
        or debug.resolution != "multiple"
        or failed[0] in debug.resolutions
        or not gateway.debug
    ):
        return debug
    server = failed[0]
    parts = urlsplit(ctx.target)
    path = parts.path.rstrip("/")
    if not path.endswith("/mcp"):
        return debug
    url = urlunsplit((parts.scheme, parts.netloc, f"{path}/{server}", "", ""))
    listing = await side_tools_list(ctx, settings, gateway, url, keep_servers=False)
    if listing is None:
        return debug
    own = listing[1]
    if own.resolution is None or own.resolution == "multiple":
        return debug
    ctx.log.info("the failed server's own resolution", server=server, resolution=own.resolution)
    return dataclasses.replace(debug, resolutions={**debug.resolutions, server: own.resolution})
