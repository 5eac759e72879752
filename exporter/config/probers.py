"""Each prober's own config block: mcp (with its LiteLLM gateway options), discovery,
litellm_completion and litellm_health."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    Field,
    field_validator,
    model_validator,
)

from .blocks import (
    HTTPClient,
    Limits,
    OAuth2ClientCredentials,
    ResponseURLPolicy,
    TLSConfig,
)
from .types import (
    PROTOCOL_VERSIONS,
    ProtocolVersion,
    Regex,
    Secret,
    Step,
    StrictModel,
    compiled_regex,
)


class ToolCallExpect(StrictModel):
    """What the tool call's result must look like."""

    is_error: bool = False
    text_regex: Regex | None = None


class ToolCall(StrictModel):
    """A tools/call step: the tool, its arguments, and the expectation on its result."""

    name: Annotated[str, Field(min_length=1)]
    arguments: dict[str, Any] = Field(default_factory=dict)
    expect: ToolCallExpect = Field(default_factory=ToolCallExpect)


class Expect(StrictModel):
    """Expectations on the server as a whole."""

    min_tools: Annotated[int, Field(ge=0)] = 0
    required_tools: list[str] = Field(default_factory=list)
    protocol_versions: list[ProtocolVersion] | None = None
    min_protocol_version: ProtocolVersion | None = None
    capabilities: list[Literal["tools", "resources", "prompts", "logging", "completions"]] = Field(
        default_factory=list
    )


class DiscoveryProber(StrictModel):
    """Authorization discovery: WWW-Authenticate, RFC 9728 and RFC 8414 / OpenID metadata."""

    require_auth: bool = True
    require_resource_metadata_header: bool = False
    resource_match: Literal["exact", "prefix"] = "prefix"
    require_pkce: bool = True
    require_registration: bool = False
    default_endpoints_fallback: bool = False
    url_policy: ResponseURLPolicy = Field(default_factory=ResponseURLPolicy)
    tls_config: TLSConfig = Field(default_factory=TLSConfig)
    http_client: HTTPClient = Field(default_factory=HTTPClient)
    limits: Limits = Field(default_factory=Limits)


_SERVER_NAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _server_name(value: str) -> str:
    if not _SERVER_NAME_RE.match(value):
        raise ValueError(
            f"server name {value[:70]!r} must be 1-64 letters, digits, _ . - (as in LiteLLM's "
            "mcp_servers)"
        )
    return value


ServerName = Annotated[str, AfterValidator(_server_name)]
HeaderName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")]
ServerId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class LiteLLMDirectProbe(StrictModel):
    """A second, direct probe of the MCP server behind the gateway (hop client_to_upstream)."""

    # null: the URL the gateway reports in x-mcp-debug-outbound-url, if url_policy allows it.
    url: str | None = None
    headers: dict[str, Secret] = Field(default_factory=dict)
    bearer_token: Secret | None = None
    oauth2: OAuth2ClientCredentials | None = None
    url_policy: ResponseURLPolicy = Field(default_factory=ResponseURLPolicy)

    @field_validator("url")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
                raise ValueError("url must be an absolute http(s) URL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> LiteLLMDirectProbe:
        authorization = any(h.lower() == "authorization" for h in self.headers)
        given = [self.bearer_token is not None, self.oauth2 is not None, authorization]
        if sum(given) > 1:
            raise ValueError("give only one of bearer_token, oauth2 or an Authorization header")
        return self


class LiteLLMGateway(StrictModel):
    """The target is a LiteLLM proxy: how to talk to it and what to read from its answers."""

    # The gateway key, sent as `<key_header>: Bearer <api_key>`; null: no key (LiteLLM refuses).
    api_key: Secret | None = None
    key_header: Literal["x-litellm-api-key", "authorization"] = "x-litellm-api-key"
    # Sent as x-mcp-servers (comma-separated): which servers the aggregate /mcp talks to.
    servers: list[ServerName] = Field(default_factory=list)
    # Per-server credentials for the upstream, sent as x-mcp-{server}-{header}.
    upstream_headers: dict[ServerName, dict[HeaderName, Secret]] = Field(default_factory=dict)
    # Send x-litellm-mcp-debug: true and turn the x-mcp-debug-* answers into metrics.
    debug: bool = True
    # The module expects a per-user OAuth token upstream; an M2M token is then an issue.
    expect_user_token: bool = False
    # Servers whose upstream outcome is reported but does not fail the probe.
    ignore_upstreams: list[ServerName] = Field(default_factory=list)
    # Names for the hashed server ids of x-mcp-debug-auth-resolutions (id: name).
    server_ids: dict[ServerId, ServerName] = Field(default_factory=dict)
    # Name the ids not in server_ids from the gateway's own list (GET /v1/mcp/server on the
    # target's origin), one extra request when the answer has per-server resolutions.
    resolve_server_ids: bool = False
    direct_probe: LiteLLMDirectProbe | None = None

    @model_validator(mode="after")
    def _consistent(self) -> LiteLLMGateway:
        if self.direct_probe is not None and self.direct_probe.url is None and not self.debug:
            raise ValueError(
                "direct_probe without url needs debug: the upstream URL comes from "
                "x-mcp-debug-outbound-url"
            )
        return self


class MCPProber(StrictModel):
    """The MCP conversation."""

    transport: Literal["auto", "streamable_http", "sse"] = "auto"
    protocol_version: ProtocolVersion = "2025-11-25"
    # none: send the steps straight away, as a curl smoke test would: for stateless servers,
    # one request per step and nothing else (no initialize or server/discover, no session).
    handshake: Literal["auto", "none"] = "auto"
    steps: list[Step] = Field(default_factory=lambda: list[Step](["tools_list"]))
    tool_call: ToolCall | None = None
    expect: Expect = Field(default_factory=Expect)
    headers: dict[str, Secret] = Field(default_factory=dict)
    bearer_token: Secret | None = None
    delete_session: bool = True
    # Active spec rules (probe_mcp_spec_deviation): a ping with an unsupported
    # MCP-Protocol-Version, one with a foreign Origin, and one with the deleted session's id.
    spec_checks: bool = False
    oauth2: OAuth2ClientCredentials | None = None
    discovery_on_auth_failure: bool = False
    litellm: LiteLLMGateway | None = None
    tls_config: TLSConfig = Field(default_factory=TLSConfig)
    http_client: HTTPClient = Field(default_factory=HTTPClient)
    limits: Limits = Field(default_factory=Limits)

    @field_validator("steps")
    @classmethod
    def _unique(cls, steps: list[Step]) -> list[Step]:
        if len(set(steps)) != len(steps):
            raise ValueError("a step is listed twice")
        return steps

    @model_validator(mode="after")
    def _consistent(self) -> MCPProber:
        if "tool_call" in self.steps and self.tool_call is None:
            raise ValueError("step tool_call needs a tool_call block")
        if self.tool_call is not None and "tool_call" not in self.steps:
            raise ValueError("tool_call is configured but not listed in steps")
        if self.transport == "sse" and self.protocol_version != "2024-11-05":
            raise ValueError("transport sse speaks protocol_version 2024-11-05 only")
        if self.protocol_version == "2026-07-28" and "ping" in self.steps:
            raise ValueError("protocol_version 2026-07-28 has no ping")
        if self.bearer_token is not None and any(
            h.lower() == "authorization" for h in self.headers
        ):
            raise ValueError("bearer_token and an Authorization header contradict each other")
        if self.oauth2 is not None and (
            self.bearer_token is not None or any(h.lower() == "authorization" for h in self.headers)
        ):
            raise ValueError(
                "oauth2 and bearer_token or an Authorization header contradict each other"
            )
        if (
            self.litellm is not None
            and self.litellm.key_header == "authorization"
            and (
                self.bearer_token is not None
                or self.oauth2 is not None
                or any(h.lower() == "authorization" for h in self.headers)
            )
        ):
            raise ValueError(
                "litellm.key_header authorization contradicts bearer_token, oauth2 or an "
                "Authorization header (with a gateway they carry the user's token)"
            )
        expect = self.expect
        if self.handshake == "none":
            if self.transport != "streamable_http":
                raise ValueError("handshake none needs transport streamable_http")
            if not self.steps:
                raise ValueError("handshake none needs at least one step")
            if (
                expect.protocol_versions is not None
                or expect.min_protocol_version is not None
                or expect.capabilities
            ):
                raise ValueError(
                    "handshake none learns no protocol version or capabilities to expect"
                )
        if (expect.min_tools or expect.required_tools) and "tools_list" not in self.steps:
            raise ValueError("expect.min_tools and expect.required_tools need step tools_list")
        if (
            expect.min_protocol_version is not None
            and expect.protocol_versions is not None
            and not any(
                PROTOCOL_VERSIONS.index(v) >= PROTOCOL_VERSIONS.index(expect.min_protocol_version)
                for v in expect.protocol_versions
            )
        ):
            raise ValueError("expect.protocol_versions has no version >= min_protocol_version")
        return self


NONCE: Final = "{nonce}"
# A regular expression in which {nonce} stands for the probe's nonce.
NonceRegex = Annotated[str, AfterValidator(lambda value: compiled_regex(value, NONCE))]
ToolName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]


class CompletionExpect(StrictModel):
    """What the MCP tool's result, as the gateway reports it, must look like. `{nonce}` stands
    for the probe's nonce. Neither given: the result must contain the nonce when the arguments
    send one, else only the absence of an error is checked."""

    text_contains: str | None = None
    text_regex: NonceRegex | None = None


class LiteLLMCompletionProber(StrictModel):
    """A LiteLLM `/v1/chat/completions` or `/v1/responses` request that makes the gateway call
    one MCP tool mid-request, answered by a probe model that never reaches a provider."""

    endpoint: Literal["chat_completions", "responses"] = "chat_completions"
    # The probe model as named in LiteLLM's model_list (model_name).
    model: Annotated[str, Field(min_length=1, max_length=256)]
    # The MCP server (LiteLLM's mcp_servers name) and the tool, without the server prefix.
    server: ServerName
    tool: ToolName
    # The tool's arguments; `{nonce}` in any string is replaced by the probe's nonce.
    arguments: dict[str, Any] = Field(default_factory=dict)
    # The user message; `{server}`, `{tool}`, `{arguments}` (JSON) and `{nonce}` are replaced.
    prompt: Annotated[str, Field(min_length=1)] = "call {server}-{tool} {arguments}"
    expect: CompletionExpect = Field(default_factory=CompletionExpect)
    # The gateway key, sent as `<key_header>: Bearer <api_key>`; null: no key (LiteLLM refuses).
    api_key: Secret | None = None
    key_header: Literal["x-litellm-api-key", "authorization"] = "x-litellm-api-key"
    # Upstream credentials for the server, sent as x-mcp-{server}-{header}.
    upstream_headers: dict[HeaderName, Secret] = Field(default_factory=dict)
    tls_config: TLSConfig = Field(default_factory=TLSConfig)
    http_client: HTTPClient = Field(default_factory=HTTPClient)
    limits: Limits = Field(default_factory=Limits)

    @property
    def sends_nonce(self) -> bool:
        """Whether the tool's arguments carry the nonce."""
        return NONCE in json.dumps(self.arguments, default=str)

    @model_validator(mode="after")
    def _consistent(self) -> LiteLLMCompletionProber:
        try:
            json.dumps(self.arguments, allow_nan=False)
        except (TypeError, ValueError):
            raise ValueError("arguments must be JSON values (quote dates and times)") from None
        expect = self.expect
        if not self.sends_nonce:
            for name in ("text_contains", "text_regex"):
                if NONCE in (getattr(expect, name) or ""):
                    raise ValueError(f"expect.{name} uses {NONCE} but the arguments never send it")
        return self


class LiteLLMHealthProber(StrictModel):
    """The gateway's own health view of each MCP server: `/v1/mcp/server/health`, named by
    `/v1/mcp/server`. The target is the gateway's base URL."""

    # The gateway key, sent as `<key_header>: Bearer <api_key>`; null: no key (LiteLLM refuses).
    api_key: Secret | None = None
    key_header: Literal["x-litellm-api-key", "authorization"] = "x-litellm-api-key"
    tls_config: TLSConfig = Field(default_factory=TLSConfig)
    limits: Limits = Field(default_factory=Limits)
