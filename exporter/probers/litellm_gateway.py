"""The gateway prober: the mcp conversation through a LiteLLM proxy, and its diagnoses.

A module with an `mcp.litellm` block runs the ordinary MCP conversation against the gateway (hop
`client_to_gateway`), sending the gateway key, `x-mcp-servers`, per-server `x-mcp-{server}-*`
headers and `x-litellm-mcp-debug: true`. Afterwards it reads:

- the `x-mcp-debug-*` headers of the `tools/list` (or `tools/call`) answer: LiteLLM reports
  `unresolved` on `initialize`, `ping` and `DELETE`, and sends no debug headers on its own error
  answers (400/401/403/404/500);
- `_meta["litellm.ai/server_outcomes"]` of the `tools/list` result: per upstream server `ok` (with a
  tool count) or why not, the only place an upstream failure shows (LiteLLM answers 200 with
  `tools: []`); a failed outcome is the probe's failure at hop `gateway_to_upstream`;
- LiteLLM's own error statuses, reclassified (a 400 "No connected db." is an unknown key);
- what LiteLLM does silently: a tool it does not list while every upstream listed fine is the
  probe's name, refused at `client_to_gateway`; `x-mcp-servers` names without an outcome are
  checked against its server list, since it drops unknown ones when another name is usable.

Optionally the upstream server is probed directly too (hop `client_to_upstream`,
`litellm_upstream.py`), which tells a broken gateway hop from a broken server. Everything read
from the gateway is bounded and sanitized before it becomes a label; masked credentials never
become labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from ..config import LiteLLMGateway, MCPModule, MCPProber
from ..litellm.diagnosis import (
    ISSUES,
    TOOL_NOT_FOUND_RE,
    GatewayAnswer,
    classify_gateway_failure,
    diagnose,
    forwarded_credential,
    outcome_failure,
    tool_error_detail,
    tool_error_reason,
)
from ..litellm.headers import (
    RESOLUTIONS,
    TOKEN_STATES,
    DebugHeaders,
    Outcome,
    first_header,
    gateway_headers,
    name_label,
    parse_debug_headers,
    parse_server_outcomes,
)
from .context import ProbeContext
from .failure import GATEWAY_HOP, UPSTREAM_HOP, ProbeFailure, failure_from
from .findings import GatewayReport, UpstreamReport
from .litellm_followups import (
    debug_for_failed_server,
    named_server_ids,
    side_tools_list,
    unknown_selected_servers,
)
from .litellm_upstream import probe_upstream_directly
from .mcp import probe_mcp, write_mcp_metrics
from .prober import Prober


@dataclass
class _Findings:
    debug: DebugHeaders = field(default_factory=DebugHeaders)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    issues: set[str] = field(default_factory=set)


async def probe_litellm(ctx: ProbeContext) -> None:
    """The mcp prober through a LiteLLM gateway, with its diagnoses; raise ProbeFailure."""
    settings = ctx.module.config_as(MCPModule).mcp
    gateway = settings.litellm
    assert gateway is not None
    findings = _Findings()
    try:
        failure = await _probe(ctx, settings, gateway, findings)
    finally:
        record(ctx, findings, gateway)
    if failure is not None:
        raise failure


def _sends(settings: MCPProber, name: str) -> bool:
    return any(h.lower() == name for h in settings.headers)


async def _probe(
    ctx: ProbeContext, settings: MCPProber, gateway: LiteLLMGateway, findings: _Findings
) -> ProbeFailure | None:
    ctx.target_hop = GATEWAY_HOP
    ctx.target_headers = {**ctx.target_headers, **gateway_headers(gateway)}
    ctx.hop = GATEWAY_HOP
    failure: ProbeFailure | None = None
    try:
        await probe_mcp(ctx)
    except ProbeFailure as exc:
        failure = exc
    except OSError as exc:
        setup = ctx.current_setup
        failure = failure_from(exc, ctx.hop, ctx.phase, setup)
    if failure is not None and failure.hop == GATEWAY_HOP and ctx.last_status is not None:
        key_sent = gateway.api_key is not None or _sends(settings, "x-litellm-api-key")
        user_token = gateway.key_header != "authorization" and (
            settings.bearer_token is not None
            or settings.oauth2 is not None
            or _sends(settings, "authorization")
        )
        received = ctx.auth_challenge
        key_as_authorization = gateway.key_header == "authorization" and gateway.api_key is not None
        answer = GatewayAnswer(
            status=ctx.last_status,
            body=ctx.mcp.error_body,
            challenge=received.bearer if received is not None else None,
            gateway_url=ctx.target,
            key_sent=key_sent,
            user_token_sent=user_token,
            authorization_sent=key_as_authorization
            or settings.bearer_token is not None
            or settings.oauth2 is not None
            or _sends(settings, "authorization"),
        )
        failure, found = classify_gateway_failure(failure, answer)
        findings.issues |= found

    step_headers = ctx.mcp.step_headers
    # Only a 2xx answer reached LiteLLM's MCP handler and carries debug headers: a step that
    # passed, or a tool call whose result was an error.
    tool_answered = failure is not None and failure.reason in ("tool_error", "expectation_failed")
    answered = next(
        (
            step_headers[s]
            for s in ("tools_list", "tool_call", "resources_list", "prompts_list")
            if step_headers.get(s) and (ctx.steps.get(s) or (s == "tool_call" and tool_answered))
        ),
        None,
    )
    server_ids: Mapping[str, str] = gateway.server_ids
    if gateway.resolve_server_ids and first_header(answered or {}, "x-mcp-debug-auth-resolutions"):
        server_ids = await named_server_ids(ctx, gateway)
    findings.debug = parse_debug_headers(answered or {}, server_ids)
    findings.outcomes = parse_server_outcomes(ctx.mcp.tools_result)
    tool_text = ctx.mcp.tool_result_text
    tool_not_found = (
        failure is not None
        and failure.reason == "tool_error"
        and failure.hop == GATEWAY_HOP
        and TOOL_NOT_FOUND_RE.match(tool_text) is not None
    )
    listed_tools = ctx.mcp.tools if ctx.steps.get("tools_list") else None
    if tool_not_found and not findings.outcomes:
        # LiteLLM calls only tools it has listed; when its listing of the upstream failed it
        # answers "Tool '<name>' not found" without calling. Its listing says why.
        listing = await side_tools_list(ctx, settings, gateway, ctx.target, keep_servers=True)
        if listing is not None:
            findings.outcomes = parse_server_outcomes(listing[0])
            complete = listing[0].get("nextCursor") is None
            listed_tools = listing[0].get("tools") if complete else None
            ctx.log.info(
                "the gateway's listing after a tool it did not find",
                outcomes={k: o.status for k, o in sorted(findings.outcomes.items())},
            )
    ignore = frozenset(gateway.ignore_upstreams)
    misnamed = tool_not_found and _tool_not_listed(
        settings, findings.outcomes, ignore, listed_tools
    )
    if misnamed and failure is not None:
        # Every upstream listed fine and none offers the tool: the gateway refused a name it
        # does not have, without calling anything; gateway_to_upstream works.
        failure = ProbeFailure(
            GATEWAY_HOP,
            "tool_call",
            "tool_error",
            f"{failure.detail}; the gateway lists no such tool (its upstreams listed fine): "
            "through LiteLLM a tool is named <server>-<tool>, compare tool_call.name with the "
            "gateway's tools/list",
        )
    tools = ctx.mcp.tools
    findings.issues |= diagnose(
        findings.debug,
        findings.outcomes,
        gateway,
        tools_listed=len(tools) if isinstance(tools, list) else None,
        answered=answered is not None,
    )

    unselected = await unknown_selected_servers(ctx, gateway, findings.outcomes)
    if unselected:
        findings.issues.add("unknown_server")
        if failure is None:
            failure = ProbeFailure(
                GATEWAY_HOP,
                "tools_list",
                "forbidden",
                f"the gateway ignored {', '.join(map(repr, unselected))} in x-mcp-servers: it "
                "has no MCP server, alias or access group of that name, or the key may not use "
                "it (LiteLLM answers 403 only when no name is usable)",
            )
    upstream = outcome_failure(
        findings.outcomes,
        ignore,
        await debug_for_failed_server(
            ctx, settings, gateway, findings.debug, findings.outcomes, ignore
        ),
        frozenset(name_label(server) for server in gateway.upstream_headers),
    )
    if upstream is not None:
        # The upstream's failure explains what the gateway hop shows after it answered the
        # listing (an empty list, a failed expectation on it, a tool it cannot find), so it is
        # the probe's failure, in the phase that failed.
        listed = bool(ctx.steps.get("tools_list"))
        if failure is None or (failure.hop == GATEWAY_HOP and listed):
            failure = upstream
        elif failure.hop == GATEWAY_HOP and failure.phase == "tool_call":
            failure = ProbeFailure(UPSTREAM_HOP, "tool_call", upstream.reason, upstream.detail)
        ctx.hops[UPSTREAM_HOP] = False
    elif findings.outcomes:
        ctx.hops[UPSTREAM_HOP] = True
    if (
        failure is not None
        and failure.reason == "tool_error"
        and failure.hop == GATEWAY_HOP
        and not misnamed
    ):
        text = ctx.mcp.tool_result_text
        reason = tool_error_reason(text) or "tool_error"
        if reason == "auth_required" and forwarded_credential(findings.debug):
            # The 401 answered a credential the gateway attached (its debug headers say so).
            reason = "token_rejected"
        detail = failure.detail + tool_error_detail(reason)
        failure = ProbeFailure(UPSTREAM_HOP, "tool_call", reason, detail)
    elif ctx.steps.get("tool_call") and UPSTREAM_HOP not in ctx.hops:
        ctx.hops[UPSTREAM_HOP] = True
    beyond = failure is not None and failure.hop == UPSTREAM_HOP
    handshake = ctx.mcp.server is not None
    if beyond or (handshake and (failure is None or failure.hop != GATEWAY_HOP)):
        # The gateway answered (a relayed upstream 401, or its handshake at least) and the
        # failure, if any, lies beyond it: whichever step failed, the requests crossed
        # client_to_gateway.
        ctx.hops[GATEWAY_HOP] = True

    if gateway.direct_probe is not None:
        direct_failure = await probe_upstream_directly(
            ctx, settings, gateway.direct_probe, findings.debug.outbound_url
        )
        if failure is None:
            failure = direct_failure
    return failure


def _tool_not_listed(
    settings: MCPProber,
    outcomes: Mapping[str, Outcome],
    ignore: frozenset[str],
    listed: object,
) -> bool:
    """Whether the gateway's complete listing is healthy and lacks the tool the probe calls."""
    call = settings.tool_call
    if call is None or not outcomes or not isinstance(listed, list):
        return False
    if any(o.status != "ok" for server, o in outcomes.items() if server not in ignore):
        return False
    names = {t.get("name") for t in listed if isinstance(t, dict)}
    return call.name not in names


def record(ctx: ProbeContext, findings: _Findings, gateway: LiteLLMGateway) -> None:
    """The probe_litellm_* metrics, the issue notes and the report's summary, in one place."""
    reg = ctx.registry
    debug = findings.debug
    if debug.resolution is not None:
        values = [
            *RESOLUTIONS,
            *([debug.resolution] if debug.resolution not in RESOLUTIONS else []),
        ]
        for value in values:
            reg.set(
                "probe_litellm_auth_resolution",
                "How LiteLLM resolved the upstream credential (x-mcp-debug-auth-resolution).",
                1 if value == debug.resolution else 0,
                {"resolution": value},
            )
    for server, resolution in sorted(debug.resolutions.items()):
        reg.set(
            "probe_litellm_server_auth_resolution",
            "Per-server resolution when LiteLLM reports multiple (x-mcp-debug-auth-resolutions).",
            1,
            {"server": server, "resolution": resolution},
        )
    if debug.server_auth_type is not None:
        reg.set(
            "probe_litellm_server_auth_type_info",
            "The auth_type LiteLLM has configured for the server (x-mcp-debug-server-auth-type).",
            1,
            {"auth_type": debug.server_auth_type},
        )
    if debug.oauth2_state is not None:
        for state in TOKEN_STATES:
            reg.set(
                "probe_litellm_oauth2_token_state",
                "The OAuth2 token LiteLLM would forward (x-mcp-debug-oauth2-token).",
                1 if state == debug.oauth2_state else 0,
                {"state": state},
            )
    for issue in ISSUES:
        reg.set(
            "probe_litellm_issue",
            "Known LiteLLM misconfigurations the probe detected (1) or not (0).",
            1 if issue in findings.issues else 0,
            {"issue": issue},
        )
    for server, outcome in sorted(findings.outcomes.items()):
        reg.set(
            "probe_litellm_upstream_status",
            "Each upstream's outcome as LiteLLM reports it in tools/list _meta.",
            1,
            {"server": server, "status": outcome.status},
        )
        if outcome.tool_count is not None:
            reg.set(
                "probe_litellm_upstream_tools",
                "Tools per upstream, as LiteLLM reports them in tools/list _meta.",
                outcome.tool_count,
                {"server": server},
            )
    for issue in ISSUES:
        if issue in findings.issues:
            ctx.note(f"litellm issue {issue}: {ISSUES[issue]}")
    if debug.resolutions_truncated:
        ctx.note("LiteLLM truncated x-mcp-debug-auth-resolutions: more servers than it reports")
    ctx.gateway = GatewayReport(
        resolution=debug.resolution,
        server_auth_type=debug.server_auth_type,
        oauth2_token=debug.oauth2_state,
        inbound_auth=list(debug.inbound_auth) if debug.inbound_auth is not None else None,
        resolutions=dict(debug.resolutions),
        upstreams={
            server: UpstreamReport(o.status, o.tool_count, o.http_status)
            for server, o in sorted(findings.outcomes.items())
        },
        issues=sorted(findings.issues),
        debug=gateway.debug,
    )


# The mcp conversation through the gateway: the mcp prober's metrics, and the gateway's own,
# written by `record` as the probe ends.
PROBER: Final = Prober(probe_litellm, write_mcp_metrics)
