"""The `mcp` prober: a real MCP conversation, one timed step per function.

The conversation is the handshake (`mcp_handshake`), the configured steps and the module's
expectations (`mcp_steps`), the optional active spec checks, and the end of the session; this
module runs them in that order under the module's credentials and writes the prober's metrics.
"""

from __future__ import annotations

import asyncio
from typing import Final

from ..config import MCPModule, MCPProber
from ..mcp.transport import Transport
from .auth import after_auth_failure, client_credentials_header
from .context import ProbeContext
from .deviations import write_deviations
from .failure import ProbeFailure
from .mcp_handshake import connect
from .mcp_steps import check_expectations, run_step
from .oauth_metrics import write_oauth_metrics
from .prober import Prober, write_exchange_metrics
from .spec_checks import check_session_terminated, run_spec_checks


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
            await run_step(ctx, transport, step, server)
        if settings.spec_checks:
            await run_spec_checks(ctx, transport)
        check_expectations(ctx, settings, hop)
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
