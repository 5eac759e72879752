"""What probers find, as typed objects: the contract between the probers, the report and the
debug output. A prober fills its own findings on the probe's context; others read them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ServerInfo:
    """The server as the handshake revealed it (empty names without a handshake)."""

    name: str
    version: str
    protocol_version: str
    transport: str
    # The declared capabilities; None when no handshake ran (steps are then not gated).
    capabilities: dict[str, Any] | None


@dataclass(slots=True)
class MCPFindings:
    """What the MCP conversation learnt, for the gateway prober and the report."""

    server: ServerInfo | None = None
    # The tools of tools/list (all pages), and the last page's whole result (a gateway's
    # per-upstream outcomes travel in its _meta).
    tools: list[Any] | None = None
    tools_result: dict[str, Any] | None = None
    # The text content of the tool call's result (bounded), for expectations and diagnoses.
    tool_result_text: str = ""
    # Each step's answer headers (a gateway's x-mcp-debug-* headers are read from them).
    step_headers: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # A short excerpt of the last error answer's body.
    error_body: str = ""
    # Identifying headers of a gateway in front of the server (x-litellm-version).
    gateway_headers: dict[str, str] = field(default_factory=dict)
    # The status the session DELETE was answered with, if one was sent.
    session_delete_status: int | None = None
    # Spec rules the server was seen to break (probe_mcp_spec_deviation).
    deviations: set[str] = field(default_factory=set)


@dataclass(slots=True)
class OAuthFindings:
    """The OAuth steps of a probe (discovery, token), turned into probe_oauth_* metrics once."""

    steps: dict[str, bool] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    # Metadata fetches so far (bounded by url_policy.max_fetches).
    fetches: int = 0
    # What discovery found (None: not reached, so no metric).
    resource_match: str | None = None
    pkce_s256: bool | None = None
    registration: list[str] | None = None
    default_endpoints: bool | None = None
    # What the client-credentials token request found.
    token_from_cache: bool | None = None
    token_error: str | None = None


@dataclass(slots=True)
class UpstreamReport:
    """One upstream's outcome as a gateway reported it."""

    status: str
    tool_count: int | None
    http_status: int | None


@dataclass(slots=True)
class GatewayReport:
    """What the LiteLLM gateway prober found, as the report and --json show it."""

    resolution: str | None
    server_auth_type: str | None
    oauth2_token: str | None
    inbound_auth: list[str] | None
    resolutions: dict[str, str]
    upstreams: dict[str, UpstreamReport]
    issues: list[str]
    debug: bool


@dataclass(slots=True)
class CompletionReport:
    """What the litellm_completion prober found."""

    endpoint: str
    model: str
    tool: str
    listed: int | None
    calls: int | None
