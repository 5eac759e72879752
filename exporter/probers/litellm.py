"""LiteLLM as an MCP gateway: its headers, its debug answers, and what they mean.

A module with an `mcp.litellm` block runs the ordinary MCP conversation against the gateway (hop
`client_to_gateway`), sending the gateway key, `x-mcp-servers`, per-server `x-mcp-{server}-*`
headers and `x-litellm-mcp-debug: true`. Afterwards it reads:

- the `x-mcp-debug-*` headers of the `tools/list` (or `tools/call`) answer: LiteLLM reports
  `unresolved` on `initialize`, `ping` and `DELETE`, and sends no debug headers on its own error
  answers (400/401/403/404/500);
- `_meta["litellm.ai/server_outcomes"]` of the `tools/list` result: per upstream server `ok` (with a
  tool count) or why not, the only place an upstream failure shows (LiteLLM answers 200 with
  `tools: []`); a failed outcome is the probe's failure at hop `gateway_to_upstream`;
- LiteLLM's own error statuses, reclassified (a 400 "No connected db." is an unknown key).

Optionally the upstream server is probed directly too (hop `client_to_upstream`), which tells a
broken gateway hop from a broken server. Everything read from the gateway is bounded and
sanitized before it becomes a label; masked credentials never become labels.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from ..config import LiteLLMDirectProbe, LiteLLMGateway, MCPProber
from ..mcp.transport import StreamableHTTP
from ..metrics import ProbeRegistry
from .auth import client_credentials_header
from .context import ProbeContext
from .discovery import ResponseURLs
from .failure import Hop, ProbeFailure, failure_from
from .findings import GatewayReport, UpstreamReport
from .litellm_servers import SERVER_LIST_PATH, get_json_body, key_headers, parse_server_list
from .mcp import connect, credential_headers, probe_mcp
from .www_authenticate import Challenge

GATEWAY_HOP: Final[Hop] = "client_to_gateway"
UPSTREAM_HOP: Final[Hop] = "gateway_to_upstream"
DIRECT_HOP: Final[Hop] = "client_to_upstream"

# `outbound_credentials/types.py:AuthResolution` of LiteLLM 1.106.0.
RESOLUTIONS: Final = (
    "unresolved",
    "no-auth",
    "static-token",
    "per-request-header",
    "oauth2-passthrough",
    "m2m-client-credentials",
    "stored-user-token",
    "token-exchange",
    "id-jag",
    "aws-sigv4",
    "extra-headers",
    "not-applicable",
    "resolution-failed",
    "multiple",
)
# `types/mcp.py:MCPAuth`, plus `unset` for LiteLLM's "(none)" (no server selected).
AUTH_TYPES: Final = (
    "none",
    "api_key",
    "bearer_token",
    "basic",
    "authorization",
    "oauth2",
    "aws_sigv4",
    "token",
    "oauth2_token_exchange",
    "oauth2_id_jag",
    "true_passthrough",
    "oauth_delegate",
    "unset",
)
TOKEN_STATES: Final = ("present", "none", "same_as_litellm_key")
# `faults/list_outcomes.py:ListFaultCategory`.
OUTCOME_STATUSES: Final = (
    "ok",
    "auth_required",
    "forbidden",
    "rate_limited",
    "timeout",
    "unreachable",
    "upstream_error",
    "internal",
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
_INBOUND_NAMES: Final = ("x-litellm-api-key", "authorization", "x-mcp-auth")

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

MAX_SERVERS: Final = 64
_MAX_HEADER: Final = 16 * 1024
_LABEL_MAX: Final = 64
_ENUM_RE: Final = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_NAME_BAD_RE: Final = re.compile(r"[^A-Za-z0-9_.-]")
_SAME_AS_KEY: Final = "SAME_AS_LITELLM_KEY"
_UNSET: Final = "(none)"
# LiteLLM's text for a tools/call of a tool it has not listed (it then calls nothing upstream).
_TOOL_NOT_FOUND_RE: Final = re.compile(r"^Error: Tool '[^']{0,200}' not found")
_TOOL_ERROR_PATTERNS: Final = (
    (re.compile(r"\bConnectError\b|\bConnectTimeout\b|All connection attempts failed"), None),
    (re.compile(r"Client error '401\b"), "auth_required"),
    (re.compile(r"Client error '403\b"), "forbidden"),
    # `MCPUpstreamAuthError` (a passthrough server's refusal mid-session).
    (re.compile(r"^Error: upstream authentication required \(HTTP 401\)"), "auth_required"),
    (re.compile(r"^Error: upstream authentication required \(HTTP 403\)"), "forbidden"),
    (re.compile(r"\bReadTimeout\b|\bTimeoutException\b"), "timeout"),
    (re.compile(r"\bHTTPStatusError\b"), "http_status"),
    (re.compile(r"SSE stream ended without a response"), "sse_protocol_error"),
)


def enum_label(raw: str | None, known: tuple[str, ...]) -> str | None:
    """A label value for one of LiteLLM's enumerations: known values as they are, an unknown
    but well-formed value kept (LiteLLM grows these sets), anything else `other`."""
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in known:
        return value
    return value if _ENUM_RE.match(value) else "other"


def name_label(raw: str) -> str:
    """A server name or id as a label value: at most 64 of [A-Za-z0-9_.-], others as `_`."""
    cleaned = _NAME_BAD_RE.sub("_", raw[:_LABEL_MAX])
    return cleaned or "_"


@dataclass(frozen=True, slots=True)
class DebugHeaders:
    """LiteLLM's `x-mcp-debug-*` answer headers, parsed; None where a header was absent."""

    inbound_auth: tuple[str, ...] | None = None
    oauth2_state: str | None = None
    resolution: str | None = None
    resolutions: Mapping[str, str] = field(default_factory=dict)
    resolutions_truncated: bool = False
    outbound_url: str | None = None
    server_auth_type: str | None = None

    @property
    def present(self) -> bool:
        """Whether the gateway sent any debug header."""
        return any(
            v is not None
            for v in (
                self.inbound_auth,
                self.oauth2_state,
                self.resolution,
                self.outbound_url,
                self.server_auth_type,
            )
        )


def _first(headers: Mapping[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name:
            if isinstance(value, list | tuple):
                value = value[0] if value else None
            if not isinstance(value, str) or len(value) > _MAX_HEADER:
                return None
            return value
    return None


def token_state(raw: str | None) -> str | None:
    """`x-mcp-debug-oauth2-token` as `none`, `present` or `same_as_litellm_key`."""
    if raw is None:
        return None
    value = raw.strip()
    if value in ("", _UNSET):
        return "none"
    if _SAME_AS_KEY in value:
        return "same_as_litellm_key"
    return "present"


def parse_inbound_auth(raw: str | None) -> tuple[str, ...] | None:
    """Which credential headers the gateway saw (`name=masked; ...`); never the values."""
    if raw is None:
        return None
    names: list[str] = []
    for part in raw.split(";"):
        name = part.partition("=")[0].strip().lower()
        if name in _INBOUND_NAMES and name not in names:
            names.append(name)
    return tuple(names)


def parse_resolutions(raw: str | None, server_ids: Mapping[str, str]) -> dict[str, str]:
    """`x-mcp-debug-auth-resolutions` (JSON: server id -> resolution) as server -> resolution.

    Ids are named by `server_ids` when configured, else kept as sanitized opaque ids; at most
    MAX_SERVERS entries. Malformed input yields {}: this never raises.
    """
    if raw is None or len(raw) > _MAX_HEADER:
        return {}
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(doc, dict):
        return {}
    out: dict[str, str] = {}
    for key, value in doc.items():
        if len(out) >= MAX_SERVERS:
            break
        if not isinstance(key, str) or not isinstance(value, str):
            continue
        label = enum_label(value, RESOLUTIONS)
        if label is not None:
            out[name_label(server_ids.get(key, key))] = label
    return out


def _outbound_url(raw: str | None) -> str | None:
    if raw is None or len(raw) > 2048 or any(ord(c) < 0x21 or ord(c) > 0x7E for c in raw):
        return None
    try:
        parts = urlsplit(raw)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return raw


def parse_debug_headers(
    headers: Mapping[str, Any], server_ids: Mapping[str, str] | None = None
) -> DebugHeaders:
    """The debug headers of one answer (header name -> value or list of values). Never raises."""
    auth_type = _first(headers, "x-mcp-debug-server-auth-type")
    if auth_type is not None and auth_type.strip() == _UNSET:
        auth_type = "unset"
    return DebugHeaders(
        inbound_auth=parse_inbound_auth(_first(headers, "x-mcp-debug-inbound-auth")),
        oauth2_state=token_state(_first(headers, "x-mcp-debug-oauth2-token")),
        resolution=enum_label(_first(headers, "x-mcp-debug-auth-resolution"), RESOLUTIONS),
        resolutions=parse_resolutions(
            _first(headers, "x-mcp-debug-auth-resolutions"), server_ids or {}
        ),
        resolutions_truncated=(
            (_first(headers, "x-mcp-debug-auth-resolutions-truncated") or "").strip().lower()
            == "true"
        ),
        outbound_url=_outbound_url(_first(headers, "x-mcp-debug-outbound-url")),
        server_auth_type=enum_label(auth_type, AUTH_TYPES),
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """One upstream's outcome in a `tools/list` answer, as the gateway reports it."""

    status: str
    tool_count: int | None = None
    http_status: int | None = None


def _bounded_int(value: object, low: int, high: int) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    return None


def parse_server_outcomes(result: object) -> dict[str, Outcome]:
    """`_meta["litellm.ai/server_outcomes"]` of a tools/list result, by sanitized server name.

    At most MAX_SERVERS servers; malformed entries are skipped. Never raises.
    """
    if not isinstance(result, dict):
        return {}
    meta = result.get("_meta")
    outcomes = meta.get("litellm.ai/server_outcomes") if isinstance(meta, dict) else None
    if not isinstance(outcomes, dict):
        return {}
    out: dict[str, Outcome] = {}
    for name, entry in outcomes.items():
        if len(out) >= MAX_SERVERS:
            break
        if not isinstance(name, str) or not isinstance(entry, dict):
            continue
        raw_status = entry.get("status")
        status = enum_label(raw_status if isinstance(raw_status, str) else None, OUTCOME_STATUSES)
        if status is None:
            continue
        out[name_label(name)] = Outcome(
            status,
            _bounded_int(entry.get("tool_count"), 0, 1_000_000),
            _bounded_int(entry.get("http_status"), 100, 599),
        )
    return out


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


def gateway_headers(gateway: LiteLLMGateway) -> dict[str, str]:
    """The request headers for the gateway: key, debug opt-in, server selection, per-server
    upstream credentials. Secrets are read now (files may rotate)."""
    headers: dict[str, str] = {}
    if gateway.api_key is not None:
        name = "Authorization" if gateway.key_header == "authorization" else "x-litellm-api-key"
        headers[name] = f"Bearer {gateway.api_key.reveal()}"
    if gateway.debug:
        headers["x-litellm-mcp-debug"] = "true"
    if gateway.servers:
        headers["x-mcp-servers"] = ",".join(gateway.servers)
    for server, values in gateway.upstream_headers.items():
        for header, secret in values.items():
            headers[f"x-mcp-{server}-{header}"] = secret.reveal()
    return headers


@dataclass
class _Findings:
    debug: DebugHeaders = field(default_factory=DebugHeaders)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    issues: set[str] = field(default_factory=set)


async def probe_litellm(ctx: ProbeContext) -> bool:
    """The mcp prober through a LiteLLM gateway, with its diagnoses; raise ProbeFailure."""
    settings = ctx.module.config.mcp
    gateway = settings.litellm
    assert gateway is not None
    findings = _Findings()
    try:
        failure = await _probe(ctx, settings, gateway, findings)
    finally:
        record(ctx, findings, gateway)
    if failure is not None:
        raise failure
    return True


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
        setup = ctx._http.current_setup if ctx._http is not None else None
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
    if gateway.resolve_server_ids and _first(answered or {}, "x-mcp-debug-auth-resolutions"):
        server_ids = await _named_server_ids(ctx, gateway)
    findings.debug = parse_debug_headers(answered or {}, server_ids)
    findings.outcomes = parse_server_outcomes(ctx.mcp.tools_result)
    tool_text = ctx.mcp.tool_result_text
    if (
        failure is not None
        and failure.reason == "tool_error"
        and failure.hop == GATEWAY_HOP
        and not findings.outcomes
        and _TOOL_NOT_FOUND_RE.match(tool_text)
    ):
        # LiteLLM calls only tools it has listed; when its listing of the upstream failed it
        # answers "Tool '<name>' not found" without calling. Its listing says why.
        listing = await _side_tools_list(ctx, settings, gateway, ctx.target, keep_servers=True)
        if listing is not None:
            findings.outcomes = parse_server_outcomes(listing[0])
            ctx.log.info(
                "the gateway's listing after a tool it did not find",
                outcomes={k: o.status for k, o in sorted(findings.outcomes.items())},
            )
    tools = ctx.mcp.tools
    findings.issues |= diagnose(
        findings.debug,
        findings.outcomes,
        gateway,
        tools_listed=len(tools) if isinstance(tools, list) else None,
        answered=answered is not None,
    )

    ignore = frozenset(gateway.ignore_upstreams)
    upstream = outcome_failure(
        findings.outcomes,
        ignore,
        await _debug_for_failed_server(ctx, settings, gateway, findings, ignore),
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
    if failure is not None and failure.reason == "tool_error" and failure.hop == GATEWAY_HOP:
        text = ctx.mcp.tool_result_text
        reason = tool_error_reason(text) or "tool_error"
        if reason == "auth_required" and forwarded_credential(findings.debug):
            # The 401 answered a credential the gateway attached (its debug headers say so).
            reason = "token_rejected"
        failure = ProbeFailure(UPSTREAM_HOP, "tool_call", reason, failure.detail)
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


async def _named_server_ids(ctx: ProbeContext, gateway: LiteLLMGateway) -> Mapping[str, str]:
    """server_ids with the gateway's own names for the rest (its /v1/mcp/server list); on any
    failure only the configured names, and a warning: naming never fails the probe."""
    parts = urlsplit(ctx.target)
    url = f"{parts.scheme}://{parts.netloc}{SERVER_LIST_PATH}"
    api_key = gateway.api_key.reveal() if gateway.api_key is not None else None
    headers = key_headers(api_key, gateway.key_header)
    try:
        with ctx.step("server_list", GATEWAY_HOP):
            ctx.record_request("GET", url, headers, None, "server_list")
            body = await get_json_body(ctx.http, url, headers, GATEWAY_HOP, "server_list")
        listed = parse_server_list(body)
    except (ProbeFailure, ValueError, OSError) as exc:
        ctx.log.warning("could not name the gateway's server ids", error=str(exc)[:200])
        return gateway.server_ids
    return {s.server_id: s.server_name for s in listed if s.server_id} | dict(gateway.server_ids)


async def _side_tools_list(
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


async def _debug_for_failed_server(
    ctx: ProbeContext,
    settings: MCPProber,
    gateway: LiteLLMGateway,
    findings: _Findings,
    ignore: frozenset[str],
) -> DebugHeaders:
    """The debug headers that decide the first failed upstream's reason.

    On the aggregate `/mcp` LiteLLM keys the per-server resolutions by hashed server ids; when
    `server_ids` does not name the failed server, its resolution (did the gateway send it a
    credential? did its own token request fail?) is asked from the server's own URL
    (`{target}/{server}`, one `tools/list`, only after such a failure). The metrics keep what
    the probe's own answer said.
    """
    debug = findings.debug
    failed = next(
        (
            (server, outcome)
            for server, outcome in sorted(findings.outcomes.items())
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
    listing = await _side_tools_list(ctx, settings, gateway, url, keep_servers=False)
    if listing is None:
        return debug
    own = listing[1]
    if own.resolution is None or own.resolution == "multiple":
        return debug
    ctx.log.info("the failed server's own resolution", server=server, resolution=own.resolution)
    return dataclasses.replace(debug, resolutions={**debug.resolutions, server: own.resolution})


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
        setup = child._http.current_setup if child._http is not None else None
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
