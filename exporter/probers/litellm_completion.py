"""LiteLLM embedded MCP calls: a `/v1/chat/completions` or `/v1/responses` request during which
the gateway calls an MCP tool, answered by a probe model that never reaches a provider.

One non-streaming request (phase `completion_request`, hop `client_to_gateway`) carries one MCP
tool and a prompt naming the tool with a per-probe nonce in its arguments
(`exporter.litellm.completion` builds it and reads the answer). Inside that request LiteLLM lists
the server's tools, asks the model (turn 1), calls the tool the model chose on the upstream, and
asks the model again with the result (turn 2). The answer reveals the listing, the calls and
their results; `completion_verdict` places a failure at the hop and phase where it happened.

When the answer shows no tools listed (chat without `mcp_list_tools`, which LiteLLM sends whenever
it listed any; responses without MCP items and with `tools: []`, which is also what LiteLLM's
string `mock_response` answers), the probe asks the gateway's own MCP endpoint for the server's
tools (`tools/list` on `/mcp/<server>`, with the key): its `server_outcomes` name why the
upstream listed nothing (`unreachable`, a 401 to the gateway's credential, ...), exactly as the
`mcp` prober with a `litellm` block does; a healthy listing there means the model was offered
nothing although the server works.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from typing import Final

from ..config import LiteLLMCompletionModule, LiteLLMCompletionProber, LiteLLMGateway
from ..litellm.completion import (
    MAX_ITEMS,
    EmbeddedCall,
    endpoint_url,
    mcp_url,
    parse_chat_completion,
    parse_response,
    request_body,
)
from ..litellm.diagnosis import ISSUES, GatewayAnswer, classify_gateway_failure, outcome_failure
from ..litellm.headers import (
    gateway_headers,
    name_label,
    parse_debug_headers,
    parse_server_outcomes,
)
from ..mcp.streamable_http import StreamableHTTP
from .completion_verdict import (
    PHASE_LIST,
    PHASE_REQUEST,
    GatewayListing,
    check,
    status_failure,
)
from .context import ProbeContext
from .failure import GATEWAY_HOP, UPSTREAM_HOP, ProbeFailure
from .findings import CompletionReport
from .oauth_metrics import write_oauth_metrics
from .prober import Prober, write_exchange_metrics


@dataclass
class _Findings:
    call: EmbeddedCall | None = None
    listing: GatewayListing | None = None
    gateway_seconds: float | None = None
    retries: int | None = None


async def probe_litellm_completion(ctx: ProbeContext) -> None:
    """One embedded MCP call through LiteLLM; raise ProbeFailure where it broke."""
    settings = ctx.module.config_as(LiteLLMCompletionModule).litellm_completion
    assert settings is not None
    findings = _Findings()
    try:
        await _probe(ctx, settings, findings)
    finally:
        record(ctx, settings, findings)


async def _probe(ctx: ProbeContext, settings: LiteLLMCompletionProber, findings: _Findings) -> None:
    nonce = f"mcp-probe-{secrets.token_hex(8)}"
    url = endpoint_url(ctx.target, settings.endpoint)
    gateway = LiteLLMGateway(
        api_key=settings.api_key,
        key_header=settings.key_header,
        debug=False,
        upstream_headers={settings.server: settings.upstream_headers},
    )
    headers = {
        **gateway_headers(gateway),
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    body = json.dumps(request_body(settings, nonce)).encode()
    ctx.log.info(
        "requesting a completion with an MCP tool",
        endpoint=settings.endpoint,
        model=settings.model,
        server=settings.server,
        tool=settings.tool,
        nonce=nonce,
    )
    with ctx.step(PHASE_REQUEST, GATEWAY_HOP):
        ctx.record_request("POST", url, headers, body, PHASE_REQUEST)
        response = await ctx.http.request(
            "POST", url, headers=headers, body=body, hop=GATEWAY_HOP, phase=PHASE_REQUEST
        )
        ctx.last_status = response.status
        raw = await response.read()
    findings.gateway_seconds = _header_number(
        response.headers.get("x-litellm-response-duration-ms")
    )
    if findings.gateway_seconds is not None:
        findings.gateway_seconds /= 1000
    retries = _header_number(response.headers.get("x-litellm-attempted-retries"))
    findings.retries = int(retries) if retries is not None else None
    text = raw.decode("utf-8", "replace")
    if response.status != 200:
        raise status_failure(ctx, settings, response.status, text)
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise ProbeFailure(
            GATEWAY_HOP,
            PHASE_REQUEST,
            "not_mcp",
            f"the answer is not JSON ({response.content_type or 'no content type'})",
        ) from None
    ctx.hops[GATEWAY_HOP] = True
    parse = parse_response if settings.endpoint == "responses" else parse_chat_completion
    call = findings.call = parse(doc)
    if not call.listed and not call.offered:
        findings.listing = await gateway_listing(ctx, settings, gateway)
    check(ctx, settings, call, nonce, findings.listing)


async def gateway_listing(
    ctx: ProbeContext, settings: LiteLLMCompletionProber, gateway: LiteLLMGateway
) -> GatewayListing | None:
    """The server's tools and outcome from the gateway's MCP endpoint (LiteLLM answers a
    `tools/list` without a session), or None when that cannot be asked."""
    url = mcp_url(ctx.target, settings.server)
    headers = gateway_headers(
        LiteLLMGateway(
            api_key=gateway.api_key,
            key_header=gateway.key_header,
            debug=True,
            upstream_headers=gateway.upstream_headers,
        )
    )
    transport = StreamableHTTP(ctx, url, headers, GATEWAY_HOP)
    # A side question: the status reported stays that of the completion request.
    status, challenge = ctx.last_status, ctx.auth_challenge
    try:
        with ctx.step(PHASE_LIST, GATEWAY_HOP):
            result = await transport.call("tools/list", {}, PHASE_LIST)
    except ProbeFailure as exc:
        ctx.log.info("the gateway's own listing of the server failed", error=exc.detail[:200])
        return _refused_listing(ctx, settings, url, exc)
    except (OSError, asyncio.IncompleteReadError) as exc:
        ctx.log.info("the gateway's own listing of the server failed", error=str(exc)[:200])
        return None
    finally:
        ctx.last_status, ctx.auth_challenge = status, challenge
    tools = result.get("tools")
    names = [
        str(t.get("name"))
        for t in (tools if isinstance(tools, list) else [])[:MAX_ITEMS]
        if isinstance(t, dict)
    ]
    outcomes = parse_server_outcomes(result)
    debug = parse_debug_headers(transport.response_headers)
    sent = frozenset({name_label(settings.server)} if settings.upstream_headers else set())
    failure = outcome_failure(outcomes, frozenset(), debug, sent)
    ctx.log.info(
        "the gateway's own listing of the server",
        tools=len(names),
        outcomes={k: o.status for k, o in sorted(outcomes.items())},
    )
    return GatewayListing(names, failure)


def _refused_listing(
    ctx: ProbeContext, settings: LiteLLMCompletionProber, url: str, refused: ProbeFailure
) -> GatewayListing | None:
    """LiteLLM's own 401 to the listing: the server needs a user token it did not have (an
    oauth2 server not authorized in LiteLLM, or a passthrough server's relayed challenge), or
    refused the one passed through. Read as the mcp prober reads it, placed at the listing."""
    received = ctx.auth_challenge
    if ctx.last_status != 401 or received is None:
        return None
    answer = GatewayAnswer(
        status=401,
        body="",
        challenge=received.bearer,
        gateway_url=url,
        key_sent=settings.api_key is not None,
        user_token_sent=False,
        authorization_sent=settings.key_header == "authorization" and settings.api_key is not None,
    )
    failure, issues = classify_gateway_failure(refused, answer)
    if failure is refused:
        return None
    for issue in sorted(issues):
        ctx.note(f"litellm issue {issue}: {ISSUES[issue]}")
    return GatewayListing(
        [],
        ProbeFailure(
            UPSTREAM_HOP,
            PHASE_LIST,
            failure.reason,
            f"the gateway's listing of server {settings.server!r} got {failure.detail}",
        ),
    )


def _header_number(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and 0 <= number < 1e9 else None


def record(ctx: ProbeContext, settings: LiteLLMCompletionProber, findings: _Findings) -> None:
    """The probe_litellm_completion_* metrics, written once."""
    reg = ctx.registry
    name = f"{settings.server}-{settings.tool}"
    call = findings.call
    if call is not None and call.listed is not None:
        reg.set(
            "probe_litellm_completion_tools",
            "Tools the gateway listed for the model from the probed MCP server.",
            len(call.listed),
        )
        reg.set(
            "probe_litellm_completion_tool_listed",
            "Whether the probed tool was among the listed tools.",
            1 if name in call.listed else 0,
        )
    if call is not None:
        reg.set(
            "probe_litellm_completion_tool_calls",
            "How many times the gateway called the probed tool during the request.",
            call.calls.count(name),
        )
    if findings.gateway_seconds is not None:
        reg.set(
            "probe_litellm_completion_gateway_duration_seconds",
            "The request's duration as the gateway reports it (x-litellm-response-duration-ms).",
            findings.gateway_seconds,
        )
    if findings.retries is not None:
        reg.set(
            "probe_litellm_completion_attempted_retries",
            "Retries the gateway made (x-litellm-attempted-retries); each repeats the MCP call.",
            findings.retries,
        )
    ctx.completion = CompletionReport(
        endpoint=settings.endpoint,
        model=settings.model,
        tool=name,
        listed=len(call.listed) if call is not None and call.listed is not None else None,
        calls=call.calls.count(name) if call is not None else None,
    )


def write_completion_metrics(ctx: ProbeContext) -> None:
    """The exchange; the prober's own metrics are written by `record` as the probe ends."""
    write_exchange_metrics(ctx)
    write_oauth_metrics(ctx)


PROBER: Final = Prober(probe_litellm_completion, write_completion_metrics)
