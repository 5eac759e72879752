"""The troubleshooting guide's diagnoses of a LiteLLM gateway: what its answers mean.

From the parsed debug headers and upstream outcomes: which known misconfiguration shows
(`probe_litellm_issue`), which hop, phase and reason a failure is (a refused credential the gateway
sent is `token_rejected` at `gateway_to_upstream`, an upstream reported unreachable is
`upstream_unreachable` there), and LiteLLM's own error answers reclassified.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from ..config import LiteLLMGateway
from ..probers.failure import GATEWAY_HOP, UPSTREAM_HOP, ProbeFailure
from ..probers.www_authenticate import Challenge
from .headers import (
    DebugHeaders,
    Outcome,
)

_OUTCOME_REASONS: Final = {
    "unreachable": "upstream_unreachable",
    "auth_required": "auth_required",
    "forbidden": "forbidden",
    "timeout": "timeout",
}
# Server auth types whose upstream credential is the user's own token.
USER_TOKEN_AUTH_TYPES: Final = frozenset({"oauth2", "true_passthrough", "oauth_delegate"})
PASSTHROUGH_AUTH_TYPES: Final = frozenset({"true_passthrough", "oauth_delegate"})
_STATIC_RESOLUTIONS: Final = frozenset({"static-token", "extra-headers", "per-request-header"})
# Resolutions under which LiteLLM attaches a credential to the upstream request
# (`oauth2-passthrough` does only when the client's request carried a token).
_CREDENTIAL_RESOLUTIONS: Final = frozenset(
    {
        *_STATIC_RESOLUTIONS,
        "m2m-client-credentials",
        "stored-user-token",
        "token-exchange",
        "id-jag",
        "aws-sigv4",
    }
)
_NO_CREDENTIAL_RESOLUTIONS: Final = frozenset({"no-auth", "resolution-failed", "not-applicable"})

ISSUES: Final[dict[str, str]] = {
    "key_leaking_to_upstream": "LiteLLM forwards the gateway key to the upstream as its OAuth "
    "token: send the key in x-litellm-api-key (litellm.key_header) and the user's own token, if "
    "any, in Authorization.",
    "no_oauth2_token": "No OAuth2 token reaches an oauth2 or passthrough server: the client must "
    "send the user's token in Authorization, or authorize through LiteLLM's OAuth flow first.",
    "m2m_instead_of_user_token": "LiteLLM used a machine-to-machine (client credentials) token "
    "where a per-user token is expected: use oauth2_flow authorization_code or true_passthrough "
    "for this server, or drop litellm.expect_user_token.",
    "static_authorization_blocks_oauth": "A static credential (the server's configured header or "
    "x-mcp-{server}-authorization) is used for an OAuth server, so LiteLLM never runs its OAuth "
    "flow: remove the static Authorization.",
    "empty_tool_list_upstream_failed": "LiteLLM answered tools/list with no tools because its "
    "upstream failed (it reports upstream errors only in _meta): see "
    "probe_litellm_upstream_status and the gateway's logs.",
    "unknown_server": "The gateway has no MCP server of that name, or the key may not use it: "
    "compare the name in the URL or x-mcp-servers with LiteLLM's mcp_servers and the key's "
    "allowed servers.",
    "auth_resolution_failed": "LiteLLM could not resolve the upstream credential "
    "(resolution-failed): check the server's auth settings and whether the user has authorized "
    "it in LiteLLM.",
    "m2m_token_fetch_failed": "LiteLLM could not get its own client-credentials token for an "
    "oauth2 server (resolution-failed, and the listing failed inside the gateway): correct "
    "client_id, client_secret, token_url and scopes of the server in LiteLLM's mcp_servers, and "
    "check that the token endpoint is reachable from the gateway; the client's token plays no "
    "part.",
    "debug_headers_missing": "The gateway sent no x-mcp-debug-* headers although the probe asked "
    "for them (x-litellm-mcp-debug: true): the target is not LiteLLM, is too old, or a proxy in "
    "between strips them; resolution and token checks are off.",
}

# LiteLLM's text for a tools/call of a tool it has not listed (it then calls nothing upstream).
TOOL_NOT_FOUND_RE: Final = re.compile(r"^Error: Tool '[^']{0,200}' not found")
_TOOL_ERROR_PATTERNS: Final = (
    (re.compile(r"\bConnectError\b|\bConnectTimeout\b|All connection attempts failed"), None),
    (re.compile(r"Client error '401\b"), "auth_required"),
    (re.compile(r"Client error '403\b"), "forbidden"),
    # `MCPUpstreamAuthError` (a passthrough server's refusal mid-session).
    (re.compile(r"^Error: upstream authentication required \(HTTP 401\)"), "auth_required"),
    (re.compile(r"^Error: upstream authentication required \(HTTP 403\)"), "forbidden"),
    (re.compile(r"\bReadTimeout\b|\bTimeoutException\b"), "timeout"),
    # LiteLLM's own deadline for the upstream call (the server's `timeout`, else
    # LITELLM_MCP_CLIENT_TIMEOUT): its 504 `{"error": "timeout"}` becomes this whole text.
    (re.compile(r"^Error: timeout\s*$"), "timeout"),
    (re.compile(r"\bHTTPStatusError\b"), "http_status"),
    (re.compile(r"SSE stream ended without a response"), "sse_protocol_error"),
)


def server_resolution(debug: DebugHeaders, server: str | None) -> str | None:
    """How LiteLLM resolved one server's credential: its entry in the per-server resolutions
    (named through `server_ids`), else the single resolution when only one server resolved."""
    if server is not None and server in debug.resolutions:
        return debug.resolutions[server]
    if debug.resolution in (None, "multiple", "unresolved"):
        return None
    return debug.resolution


def forwarded_credential(debug: DebugHeaders, server: str | None = None) -> bool | None:
    """Whether the gateway's debug headers say it sent the upstream a credential: True, False,
    or None when they do not tell (no debug headers, an unnamed server among several)."""
    resolution = server_resolution(debug, server)
    if resolution == "oauth2-passthrough":
        # The client's Authorization is what passes through; LiteLLM shows it masked.
        return None if debug.oauth2_state is None else debug.oauth2_state != "none"
    if resolution in _CREDENTIAL_RESOLUTIONS:
        return True
    if resolution in _NO_CREDENTIAL_RESOLUTIONS:
        return False
    return None


def _token_fetch_failed(debug: DebugHeaders, server: str, outcome: Outcome) -> bool:
    """LiteLLM failed to get its own token for the server: the resolver failed and the listing
    failed inside the gateway (`internal`), not at the upstream (a 401 would be
    `auth_required`, as for an authorization-code server without a stored user token)."""
    if outcome.status != "internal":
        return False
    resolution = server_resolution(debug, server)
    if resolution is not None:
        return resolution == "resolution-failed"
    # Several servers, ids not named: the evidence is there but not tied to a server.
    return "resolution-failed" in debug.resolutions.values()


def outcome_failure(
    outcomes: Mapping[str, Outcome],
    ignore: frozenset[str],
    debug: DebugHeaders | None = None,
    sent_upstream: frozenset[str] = frozenset(),
) -> ProbeFailure | None:
    """The failure of the first upstream whose outcome is not `ok` (ignored servers aside).

    A 401 is `token_rejected` when the gateway sent the upstream a credential (from its debug
    headers, else from the `x-mcp-{server}-*` headers the probe sent for that server), and
    `auth_required` when it sent none.
    """
    debug = debug or DebugHeaders()
    for server, outcome in sorted(outcomes.items()):
        if outcome.status == "ok" or server in ignore:
            continue
        reason = _OUTCOME_REASONS.get(outcome.status, "http_status")
        status = f" (HTTP {outcome.http_status})" if outcome.http_status else ""
        detail = f"the gateway reports upstream {server!r} as {outcome.status}{status}"
        resolution = server_resolution(debug, server)
        if reason == "timeout":
            detail += (
                ": the gateway's own listing deadline passed (the larger of the server's timeout "
                "in its mcp_servers and LITELLM_MCP_TOOL_LISTING_TIMEOUT); the module's timeout "
                "plays no part"
            )
        if reason == "auth_required":
            sent = forwarded_credential(debug, server)
            if sent is None:
                sent = server in sent_upstream
            if sent:
                reason = "token_rejected"
                how = f" ({resolution})" if resolution else ""
                detail += (
                    f": the upstream refused the credential the gateway sent{how}; correct the "
                    "server's credential"
                )
            else:
                detail += ": the gateway sent no credential; add one for the server"
        elif _token_fetch_failed(debug, server, outcome):
            reason = "token_fetch_failed"
            detail += (
                ": the gateway could not get its client-credentials token (resolution-failed); "
                "correct the server's oauth2 client settings in the gateway"
            )
        return ProbeFailure(UPSTREAM_HOP, "tools_list", reason, detail)
    return None


def tool_error_detail(reason: str) -> str:
    """What a gateway's tool error reason adds to the probe's detail, if anything."""
    if reason == "timeout":
        return (
            "; the gateway's own deadline for the upstream call passed (the server's timeout in "
            "its mcp_servers, else LITELLM_MCP_CLIENT_TIMEOUT, 60 s by default)"
        )
    return ""


def tool_error_reason(text: str) -> str | None:
    """What a gateway's `isError` tool text says about its upstream call, if it says anything:
    LiteLLM puts the upstream's exception there (`ConnectError: ...`, `HTTPStatusError: ...`)."""
    for pattern, reason in _TOOL_ERROR_PATTERNS:
        if pattern.search(text[:4000]):
            return reason or "upstream_unreachable"
    return None


@dataclass(frozen=True, slots=True)
class GatewayAnswer:
    """What the exporter knows about a failed exchange with the gateway."""

    status: int | None
    body: str
    challenge: Challenge | None
    gateway_url: str
    key_sent: bool
    user_token_sent: bool
    # Any Authorization header, the key included: a passthrough server gets it as it is.
    authorization_sent: bool = False


def _origin(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
        return (parts.scheme.lower(), parts.netloc.lower())
    except ValueError:
        return ("", "")


def classify_gateway_failure(
    failure: ProbeFailure, answer: GatewayAnswer
) -> tuple[ProbeFailure, set[str]]:
    """LiteLLM's own error answers as (failure, issues), per its 1.106.0 behaviour."""
    status, body = answer.status, answer.body.lower()
    phase = failure.phase
    if status == 400 and "no connected db" in body:
        return ProbeFailure(
            GATEWAY_HOP,
            phase,
            "token_rejected",
            "400 No connected db.: LiteLLM does not know this key (without a database only "
            "its master key is known)",
        ), set()
    if status == 500 and ("prisma" in body or "mcp request failed" in body):
        if not answer.key_sent:
            return ProbeFailure(
                GATEWAY_HOP,
                phase,
                "auth_required",
                "500: no gateway key was sent (LiteLLM fails looking up an anonymous caller); "
                "set litellm.api_key",
            ), set()
        return ProbeFailure(
            GATEWAY_HOP, phase, "token_rejected", f"500 looking up the key: {answer.body[:200]}"
        ), set()
    if status == 404 and "not found" in body and ("mcp server" in body or "access group" in body):
        return ProbeFailure(GATEWAY_HOP, phase, "http_status", f"404: {answer.body[:200]}"), {
            "unknown_server"
        }
    if status == 403 and answer.key_sent:
        return ProbeFailure(
            GATEWAY_HOP,
            phase,
            "forbidden",
            "403: the key may not use the requested MCP server, or the gateway has none of "
            "that name",
        ), {"unknown_server"}
    if status == 401 and answer.key_sent:
        challenge = answer.challenge
        if challenge is not None and challenge.get("authorization_uri"):
            # LiteLLM's own 401 for an oauth2 server the user has not authorized yet.
            reason = "token_rejected" if answer.user_token_sent else "auth_required"
            return ProbeFailure(
                GATEWAY_HOP,
                phase,
                reason,
                "401: the gateway wants the user's OAuth token for this server "
                "(WWW-Authenticate authorization_uri)",
            ), set() if answer.user_token_sent else {"no_oauth2_token"}
        metadata = challenge.get("resource_metadata") if challenge is not None else None
        if metadata and _origin(metadata) != _origin(answer.gateway_url):
            # The upstream's own challenge, relayed (true_passthrough): whatever arrived in
            # Authorization went upstream as it was, so a token was refused if one was sent.
            # (Its `error` tells nothing: the MCP SDK says invalid_token even without one.)
            if answer.authorization_sent:
                return ProbeFailure(
                    UPSTREAM_HOP,
                    phase,
                    "token_rejected",
                    "401 relayed from the upstream: it refused the token the gateway passed "
                    "through; correct the credential sent in Authorization",
                ), set()
            return ProbeFailure(
                UPSTREAM_HOP,
                phase,
                "auth_required",
                "401 relayed from the upstream: it wants a token the gateway did not have; add "
                "the user's token in Authorization",
            ), {"no_oauth2_token"}
        return ProbeFailure(
            GATEWAY_HOP, phase, "token_rejected", "401: the gateway rejected the key"
        ), set()
    if status == 401:
        return ProbeFailure(
            GATEWAY_HOP, phase, "auth_required", "401: no gateway key was sent"
        ), set()
    return failure, set()


def diagnose(
    debug: DebugHeaders,
    outcomes: Mapping[str, Outcome],
    gateway: LiteLLMGateway,
    *,
    tools_listed: int | None,
    answered: bool,
) -> set[str]:
    """The known misconfigurations the gateway's answer reveals (names from ISSUES)."""
    issues: set[str] = set()
    resolutions = {debug.resolution, *debug.resolutions.values()} - {None}
    auth_type = debug.server_auth_type
    if debug.oauth2_state == "same_as_litellm_key" or (
        gateway.key_header == "authorization" and auth_type in PASSTHROUGH_AUTH_TYPES
    ):
        # 1.106.0 strips the key from Authorization for every server except passthrough ones,
        # so LiteLLM shows the flag only where the key really goes upstream.
        issues.add("key_leaking_to_upstream")
    token_fetch_failed = any(
        _token_fetch_failed(debug, server, outcome) for server, outcome in outcomes.items()
    )
    if token_fetch_failed and auth_type in ("oauth2", "unset", None):
        issues.add("m2m_token_fetch_failed")
    if (
        auth_type in USER_TOKEN_AUTH_TYPES
        and debug.oauth2_state == "none"
        and debug.resolution not in ("m2m-client-credentials", *_STATIC_RESOLUTIONS)
        # The gateway's own token request failed: no user token was ever expected.
        and "m2m_token_fetch_failed" not in issues
    ):
        issues.add("no_oauth2_token")
    if gateway.expect_user_token and "m2m-client-credentials" in resolutions:
        issues.add("m2m_instead_of_user_token")
    if auth_type in USER_TOKEN_AUTH_TYPES and debug.resolution in _STATIC_RESOLUTIONS:
        issues.add("static_authorization_blocks_oauth")
    if tools_listed == 0 and any(o.status != "ok" for o in outcomes.values()):
        issues.add("empty_tool_list_upstream_failed")
    if "resolution-failed" in resolutions:
        issues.add("auth_resolution_failed")
    if gateway.debug and answered and not debug.present:
        issues.add("debug_headers_missing")
    return issues
