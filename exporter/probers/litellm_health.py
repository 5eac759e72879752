"""The `litellm_health` prober: the gateway's own view of each MCP server behind it.

The troubleshooting guide's "LiteLLM UI / Playground errors" hop (LiteLLM -> MCP server), as the
gateway sees it: `GET /v1/mcp/server/health` for each server's status and `GET /v1/mcp/server`
for the names behind its hashed ids, in one scrape for every server. The probe succeeds when the
gateway answered both; an unhealthy server is a metric to alert on, not a failed probe.
"""

from __future__ import annotations

from typing import Final

from ..config import LiteLLMHealthModule
from .context import ProbeContext
from .failure import Hop, ProbeFailure
from .litellm_servers import (
    HEALTH_STATUSES,
    SERVER_HEALTH_PATH,
    SERVER_LIST_PATH,
    get_json_body,
    key_headers,
    parse_server_health,
    parse_server_list,
)
from .prober import Prober, write_exchange_metrics

HOP: Final[Hop] = "client_to_gateway"


async def _get(ctx: ProbeContext, path: str, headers: dict[str, str], phase: str) -> bytes:
    url = ctx.target.rstrip("/") + path
    with ctx.step(phase, HOP):
        ctx.record_request("GET", url, headers, None, phase)
        return await get_json_body(ctx.http, url, headers, HOP, phase)


async def probe_litellm_health(ctx: ProbeContext) -> None:
    """Read the gateway's server list and health; write probe_litellm_server_health."""
    settings = ctx.module.config_as(LiteLLMHealthModule).litellm_health
    assert settings is not None
    api_key = settings.api_key.reveal() if settings.api_key is not None else None
    headers = key_headers(api_key, settings.key_header)
    try:
        servers = parse_server_list(await _get(ctx, SERVER_LIST_PATH, headers, "server_list"))
        health = parse_server_health(await _get(ctx, SERVER_HEALTH_PATH, headers, "server_health"))
    except ValueError as exc:
        raise ProbeFailure(
            HOP, ctx.phase, "not_mcp", f"not a LiteLLM management API answer: {exc}"[:200]
        ) from None
    ctx.hops[HOP] = True
    names = {server.server_id: server.server_name for server in servers}
    # Every listed server, and every id the health answer names (unnamed ids stay ids).
    statuses = {server.server_name: "unknown" for server in servers}
    for server_id, status in health.items():
        statuses[names.get(server_id, server_id)] = status
    for server, status in sorted(statuses.items()):
        for known in dict.fromkeys((*HEALTH_STATUSES, status)):
            ctx.registry.set(
                "probe_litellm_server_health",
                "The gateway's own health view of each MCP server (/v1/mcp/server/health): 1 for "
                "the status it reports, 0 for the other known statuses.",
                1 if known == status else 0,
                {"server": server, "status": known},
            )
    unhealthy = sorted(s for s, status in statuses.items() if status != "healthy")
    ctx.gateway_health = dict(sorted(statuses.items()))
    ctx.log.info(
        "gateway health view",
        servers=len(statuses),
        not_healthy=",".join(unhealthy)[:300] or None,
    )


PROBER: Final = Prober(probe_litellm_health, write_exchange_metrics)
