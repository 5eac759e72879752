"""The active spec rules (`mcp.spec_checks: true`): one extra request each, after the steps.

See deviations.py for the rules. None of these requests can fail the probe: a check that cannot
finish is logged and leaves its rule at 0.
"""

from __future__ import annotations

from typing import Final

from ..mcp.streamable_http import ACCEPT_BOTH, StreamableHTTP
from ..mcp.transport import Transport
from .context import ProbeContext
from .deviations import UNSUPPORTED_VERSION, observe
from .failure import ProbeFailure

# An Origin no server should trust (a name under .invalid never resolves).
FOREIGN_ORIGIN: Final = "https://origin-check.mcp-exporter.invalid"
_VERSION_HEADER_FROM: Final = ("2025-06-18", "2025-11-25")
_PING: Final = b'{"jsonrpc":"2.0","id":"spec-check","method":"ping"}'


async def _ping_status(ctx: ProbeContext, transport: StreamableHTTP, **extra: str) -> int:
    """POST a ping with the session's headers changed by `extra`; the answer's status."""
    headers = {"Content-Type": "application/json", "Accept": ACCEPT_BOTH, **transport.headers}
    if transport.session_id is not None:
        headers["Mcp-Session-Id"] = transport.session_id
    if transport.protocol_version in _VERSION_HEADER_FROM:
        headers["MCP-Protocol-Version"] = str(transport.protocol_version)
    headers.update(extra)
    ctx.record_request("POST", transport.url, headers, _PING, "spec_checks")
    response = await ctx.http.request(
        "POST",
        transport.url,
        headers=headers,
        body=_PING,
        hop=transport.hop,
        phase="spec_checks",
        follow_redirects=True,
        within_origin=True,
    )
    # The status is the answer; the body is not read, so a server that keeps the stream open
    # cannot hold the probe until its deadline.
    await response.aclose()
    return response.status


async def run_spec_checks(ctx: ProbeContext, transport: Transport) -> None:
    """The active rules that need the session alive (before DELETE). Never fails the probe."""
    if not isinstance(transport, StreamableHTTP) or transport.protocol_version is None:
        ctx.log.info("spec checks skipped: they need a Streamable HTTP session")
        return
    version = transport.protocol_version
    try:
        with ctx.step("spec_checks", transport.hop):
            if version in _VERSION_HEADER_FROM:
                status = await _ping_status(
                    ctx, transport, **{"MCP-Protocol-Version": UNSUPPORTED_VERSION}
                )
                if status != 400:
                    observe(ctx, "protocol_version_header_ignored", status=status)
            if version == "2025-11-25":
                status = await _ping_status(ctx, transport, Origin=FOREIGN_ORIGIN)
                if status != 403:
                    observe(ctx, "invalid_origin_accepted", status=status)
    except (ProbeFailure, OSError) as exc:
        ctx.log.warning("spec checks could not finish", error=str(exc)[:200])


async def check_session_terminated(ctx: ProbeContext, transport: Transport) -> None:
    """After an accepted DELETE, the old session id must get 404. Never fails the probe."""
    if not isinstance(transport, StreamableHTTP) or transport.session_id is None:
        return
    if not ctx.steps.get("session_delete") or ctx.mcp.session_delete_status == 405:
        return
    try:
        with ctx.step("spec_checks", transport.hop):
            status = await _ping_status(ctx, transport)
    except (ProbeFailure, OSError) as exc:
        ctx.log.warning("spec checks could not finish", error=str(exc)[:200])
        return
    if status != 404:
        observe(ctx, "session_not_terminated", status=status)
