"""The one-shot command's report: each step with its time and result, and what to check next."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Final

from .probe import ProbeOutcome, display_target, replay_of
from .probers.failure import HOPS
from .probers.findings import ServerInfo
from .untrusted import clean, encodable, map_strings

# Longest text of one report field or line (the replay script is one field); a target's text
# beyond it is cut, with an ellipsis.
_MAX_FIELD_CHARS: Final = 65536
NEXT_STEPS: Final[dict[str, str]] = {
    "dns": "The host name does not resolve: check the URL and the exporter's DNS.",
    "connect_refused": "Nothing listens there: is the server running, and on this port and "
    "address (127.0.0.1 vs 0.0.0.0)?",
    "connect_timeout": "The connection was not accepted in time: check firewalls, routing "
    "and the host.",
    "tls": "TLS failed: check the certificate's name and expiry, the CA (tls_config.ca_file) "
    "and the TLS versions both sides allow.",
    "timeout": "The server did not answer in time: check its logs for slow handlers or "
    "upstream calls; raise the module timeout only if that latency is expected.",
    "http_status": "An unexpected HTTP status: check the URL path (/mcp vs /sse vs "
    "/{server}/mcp), the method, and the server's logs.",
    "auth_required": "The server wants credentials: configure bearer_token or headers in the "
    "module, and run the discovery module to check its OAuth metadata.",
    "forbidden": "The credentials are valid but not allowed: check the token's permissions "
    "and any Origin or IP restrictions on the server.",
    "insufficient_scope": "The token lacks a scope: compare the challenged scope with the "
    "token's scopes.",
    "token_rejected": "The credentials were rejected: check that the token is current, for "
    "this server (audience), and sent in the right header.",
    "token_fetch_failed": "Getting a token from the authorization server failed: check the "
    "client id, secret, token URL and scopes.",
    "not_mcp": "The answer is not MCP: is this the MCP endpoint (not a web page or a health "
    "route)? Expect application/json or text/event-stream.",
    "sse_protocol_error": "The event stream broke off or was malformed: check proxies that "
    "buffer or cut long responses, and the server's logs.",
    "jsonrpc_error": "The server answered with a JSON-RPC error: see the code and message in "
    "the log.",
    "jsonrpc_invalid": "The server's answer is not valid JSON-RPC 2.0: a server bug or a proxy "
    "rewriting bodies.",
    "protocol_version_unsupported": "No common protocol revision: compare the server's "
    "supported versions with the module's protocol_version and expectations.",
    "session_missing": "The server wants an Mcp-Session-Id it never issued: it may require a "
    "sticky session behind a load balancer.",
    "session_expired": "The server dropped the session mid-probe: check session timeouts and "
    "load-balancer stickiness.",
    "initialize_invalid": "The initialize answer is malformed: check serverInfo and "
    "capabilities, and the session id's characters.",
    "capability_missing": "The server does not declare a capability the module uses: "
    "remove the step or fix the server.",
    "expectation_failed": "The server works but does not meet the module's expectations "
    "(tool count, required tools, tool result).",
    "tool_error": "The tool ran and reported an error: see the tool's text in the log.",
    "upstream_unreachable": "The gateway cannot reach its MCP server: check the upstream, and "
    "the gateway's logs for the connection error.",
    "metadata_unreachable": "OAuth metadata could not be fetched: check the well-known URLs "
    "and the resource_metadata URL in WWW-Authenticate.",
    "metadata_invalid": "OAuth metadata is malformed or inconsistent: see which field in the log.",
    "pkce_unsupported": "The authorization server does not advertise PKCE S256, which MCP "
    "clients require.",
    "target_not_allowed": "The URL is refused by the module's target policy.",
    "response_too_large": "The answer exceeds the module's size limits (limits.*).",
    "internal": "The exporter failed internally: please report it with the debug output.",
}


# Where the hop changes what to do: at gateway_to_upstream the credential is the gateway's.
HOP_NEXT_STEPS: Final[dict[tuple[str, str], str]] = {
    ("gateway_to_upstream", "auth_required"): "The upstream wants a credential the gateway did "
    "not send: add one for the server in the gateway (its auth settings in mcp_servers, an "
    "x-mcp-{server}-* header, or the user's token for a passthrough server).",
    ("gateway_to_upstream", "token_rejected"): "The upstream refused the credential the gateway "
    "sent: correct the server's credential (the token in the gateway's mcp_servers, the "
    "x-mcp-{server}-* header, or the user's token a passthrough server receives).",
    ("gateway_to_upstream", "token_fetch_failed"): "The gateway could not get its own "
    "client-credentials token for the server: correct client_id, client_secret, token_url and "
    "scopes in the gateway's mcp_servers, and check the token endpoint is reachable from it.",
    ("gateway_to_upstream", "timeout"): "The gateway's own deadline for the upstream ran out: "
    "check the upstream's latency and the server's timeout in the gateway's mcp_servers "
    "(listings: LITELLM_MCP_TOOL_LISTING_TIMEOUT, calls: LITELLM_MCP_CLIENT_TIMEOUT); the "
    "module's timeout plays no part.",
    ("client_to_gateway", "tool_error"): "If the gateway says the tool was not found, the name "
    "is wrong: through LiteLLM a tool is named <server>-<tool> (compare tool_call.name with the "
    "gateway's tools/list); otherwise see the tool's text in the log.",
}


def next_step(hop: str, reason: str) -> str:
    """What to check next for a failure of `reason` at `hop`."""
    return HOP_NEXT_STEPS.get((hop, reason)) or NEXT_STEPS.get(reason, "")


def as_dict(outcome: ProbeOutcome) -> dict[str, Any]:
    """The outcome for --json. Every string is scrubbed of the probe's credentials (a server
    can echo one into its name or a header) and free of lone surrogates, so it always encodes as
    UTF-8 (strict JSON readers refuse escaped lone surrogates)."""
    ctx = outcome.context
    failure = outcome.failure
    data: dict[str, Any] = {
        "target": display_target(ctx.target),
        "module": ctx.module.name,
        "success": outcome.success,
        "duration_seconds": round(outcome.duration, 6),
        "failure": None
        if failure is None
        else {
            "hop": failure.hop,
            "phase": failure.phase,
            "reason": failure.reason,
            "detail": failure.detail,
            "next": next_step(failure.hop, failure.reason),
        },
        "phases": {k: round(v, 6) for k, v in ctx.phase_seconds.items()},
        "steps": dict(ctx.steps),
        "server": _server(ctx.mcp.server),
        "hops": {
            hop: value == 1
            for hop in HOPS
            if (value := outcome.registry.value("probe_hop_success", {"hop": hop})) is not None
        },
        "litellm": asdict(ctx.gateway) if ctx.gateway is not None else None,
        "completion": asdict(ctx.completion) if ctx.completion is not None else None,
        "litellm_health": ctx.gateway_health,
        "notes": list(ctx.notes),
        "log": outcome.log.lines,
        "replay": replay_of(outcome)(),
    }
    redact = outcome.redact
    # Bounded after redaction (a cut cannot split a secret): a server name can be megabytes.
    cleaned: dict[str, Any] = map_strings(
        data, lambda text: clean(encodable(redact(text)), _MAX_FIELD_CHARS)
    )
    return cleaned


def render(outcome: ProbeOutcome, *, as_json: bool = False) -> str:
    """A report for a person (or JSON for a machine)."""
    data = as_dict(outcome)
    if as_json:
        return json.dumps(data, indent=2)
    lines = [f"Probe of {data['target']} with module {data['module']}"]
    server = data["server"]
    if server.get("name"):
        lines.append(
            f"  server      {server.get('name')} {server.get('version')}  "
            f"protocol {server.get('protocol_version')} over {server.get('transport')}"
        )
    lines.append("  phases")
    for phase, seconds in data["phases"].items():
        lines.append(f"    {phase:<18} {seconds * 1000:9.2f} ms")
    if data["steps"]:
        lines.append("  steps")
        for step, ok in data["steps"].items():
            lines.append(f"    {step:<18} {'ok' if ok else 'FAILED'}")
    failure = data["failure"]
    if failure is None:
        lines.append(f"  result      SUCCESS in {data['duration_seconds'] * 1000:.1f} ms")
    else:
        lines.append(f"  result      FAILURE in {data['duration_seconds'] * 1000:.1f} ms")
        lines.append(f"    hop       {failure['hop']}")
        lines.append(f"    phase     {failure['phase']}")
        lines.append(f"    reason    {failure['reason']}")
        lines.append(f"    detail    {failure['detail']}")
        if failure["next"]:
            lines.append(f"    next      {failure['next']}")
    gateway = data["litellm"]
    if gateway is not None:
        lines.append(
            f"  litellm     resolution {gateway['resolution'] or '-'}, server auth_type "
            f"{gateway['server_auth_type'] or '-'}, oauth2 token {gateway['oauth2_token'] or '-'}"
        )
        for server, resolution in gateway["resolutions"].items():
            lines.append(f"    resolution {server:<18} {resolution}")
        for server, upstream in gateway["upstreams"].items():
            lines.append(f"    upstream  {server:<18} {upstream['status']}")
        lines.append(f"    issues    {', '.join(gateway['issues']) or 'none'}")
    completion = data["completion"]
    if completion is not None:
        listed = completion["listed"]
        calls = completion["calls"]
        lines.append(
            f"  completion  {completion['endpoint']} model {completion['model']}, tool "
            f"{completion['tool']}: listed {'-' if listed is None else listed} tools, called "
            f"{'-' if calls is None else calls} times"
        )
    for server, status in (data["litellm_health"] or {}).items():
        lines.append(f"  health      {server:<22} {status}")
    for hop, ok in data["hops"].items():
        lines.append(f"  hop         {hop:<22} {'ok' if ok else 'FAILED'}")
    for note in data["notes"]:
        lines.append(f"  note        {note}")
    if data["replay"]:
        lines += [""]
        # The replay is shell-quoted already; target text in it is cleaned like every line.
        lines += data["replay"].rstrip("\n").split("\n")
    # Server names, details and notes are a target's text: no control character reaches the
    # terminal (escape sequences), and each stays on its line.
    return "".join(f"{clean(line, _MAX_FIELD_CHARS, one_line=True)}\n" for line in lines)


def _server(server: ServerInfo | None) -> dict[str, str]:
    """The server as the report shows it (capabilities are in the metrics)."""
    if server is None:
        return {}
    return {
        "name": server.name,
        "version": server.version,
        "protocol_version": server.protocol_version,
        "transport": server.transport,
    }
