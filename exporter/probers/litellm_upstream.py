"""The direct probe behind a gateway: `initialize` and `tools/list` on the upstream MCP server
itself (hop `client_to_upstream`), at the URL the module names or the one the gateway's debug
headers reported (checked against `direct_probe.url_policy` first). Run after the gateway's
conversation, it tells a broken gateway hop from a broken server: its own connections and a
scratch registry keep the gateway's metrics the probe's, and its phases are recorded as
`upstream_<phase>`."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..config import LiteLLMDirectProbe, MCPProber
from ..metrics import ProbeRegistry
from .auth import client_credentials_header
from .context import ProbeContext
from .failure import DIRECT_HOP, ProbeFailure, failure_from
from .mcp_handshake import connect
from .response_urls import ResponseURLs


async def probe_upstream_directly(
    ctx: ProbeContext, settings: MCPProber, direct: LiteLLMDirectProbe, reported: str | None
) -> ProbeFailure | None:
    """Initialize and list tools on the upstream itself (hop client_to_upstream).

    It runs with its own connections and a scratch registry so that the gateway's metrics stay
    the probe's; its phases are recorded as `upstream_<phase>`. Returns its failure, if any.
    """
    ctx.hop, ctx.phase = DIRECT_HOP, "upstream_connect"
    url = direct.url
    if url is None:
        if reported is None:
            ctx.note("direct probe skipped: the gateway reported no single upstream URL")
            return None
        try:
            ResponseURLs(ctx, direct.url_policy).check(reported, DIRECT_HOP, "upstream_connect")
        except ProbeFailure as refused:
            ctx.hops[DIRECT_HOP] = False
            ctx.note(f"direct probe refused: {refused.detail}")
            return refused
        url = reported
    child = ProbeContext(
        target=url,
        module=ctx.module,
        registry=ProbeRegistry(),
        log=ctx.log,
        timeout=ctx.timeout,
        hop=DIRECT_HOP,
    )
    headers = {name: secret.reveal() for name, secret in direct.headers.items()}
    if direct.bearer_token is not None:
        headers["Authorization"] = f"Bearer {direct.bearer_token.reveal()}"
    failure: ProbeFailure | None = None
    ctx.log.info("probing the upstream directly", url=urlsplit(url).path)
    try:
        if direct.oauth2 is not None:
            headers["Authorization"] = await client_credentials_header(child, direct.oauth2)
        transport = await connect(child, url, settings, headers, DIRECT_HOP)
        try:
            with child.step("tools_list", DIRECT_HOP):
                result = await transport.call("tools/list", {}, "tools_list")
            listed = result.get("tools")
            ctx.log.info(
                "upstream listed tools directly",
                count=len(listed) if isinstance(listed, list) else None,
            )
        finally:
            await transport.close(delete_session=settings.delete_session)
    except ProbeFailure as exc:
        failure = exc
    except OSError as exc:
        setup = child.current_setup
        failure = failure_from(exc, DIRECT_HOP, child.phase, setup)
    finally:
        await child.aclose()
        for phase, seconds in child.phase_seconds.items():
            ctx.phase_seconds[f"upstream_{phase}"] = seconds
        for hop, ok in child.hops.items():
            ctx.hops.setdefault(hop, ok)
    if failure is not None:
        failure = ProbeFailure(
            failure.hop, f"upstream_{failure.phase}", failure.reason, failure.detail
        )
        ctx.note(
            f"direct probe of the upstream failed: {failure.reason} at {failure.phase}: "
            f"{failure.detail}"
        )
    if failure is None:
        ctx.hops[DIRECT_HOP] = True
    else:
        ctx.hops[failure.hop] = False
    return failure
