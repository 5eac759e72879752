"""Configuration: a strict YAML schema (pydantic) and the runtime view the probers receive.

Unknown keys, wrong types and contradictory options are rejected at load time with the dotted
location of the problem and a one-line reason, so a bad file never half-loads.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .net.proxy import ProxySettings
from .net.proxy import from_environment as proxy_from_environment
from .policy import PolicyChain, Rule, TargetPolicy, is_loopback_host, rule
from .redact import is_sensitive_header
from .tokens import TokenCache

PROTOCOL_VERSIONS: Final = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")
ProtocolVersion = Literal["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"]
Step = Literal["tools_list", "ping", "resources_list", "prompts_list", "tool_call"]

_DURATION_RE: Final = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$")
_DURATION_PART_RE: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE_RE: Final = re.compile(r"^(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$")
_SIZES: Final = {
    None: 1,
    "B": 1,
    "KB": 1000,
    "KiB": 1024,
    "MB": 1000**2,
    "MiB": 1024**2,
    "GB": 1000**3,
    "GiB": 1024**3,
}


class ConfigError(Exception):
    """A configuration that cannot be used; `problems` holds one line per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


def _duration(value: object) -> object:
    """Accept Prometheus-style durations ("10s", "1m30s", "500ms") and plain seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 10s or 500ms")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if _DURATION_RE.match(text):
            return sum(float(n) * _UNITS[u] for n, u in _DURATION_PART_RE.findall(text))
        try:
            return float(text)
        except ValueError:
            pass
    raise ValueError(f"invalid duration {value!r}: expected e.g. 10s, 500ms or 1m30s")


def _size(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("expected a size such as 4MiB")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = _SIZE_RE.match(value.strip())
        if match:
            return int(match.group(1)) * _SIZES[match.group(2)]
    raise ValueError(f"invalid size {value!r}: expected bytes or e.g. 64KiB, 4MiB")


Duration = Annotated[float, BeforeValidator(_duration), Field(gt=0)]
Size = Annotated[int, BeforeValidator(_size), Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Secret(_Model):
    """A secret given inline, read from a file, or read from an environment variable.

    A plain string in YAML is an inline secret. Files are read at use time so that rotated
    credentials (for example a re-mounted Kubernetes Secret) take effect without a reload.
    """

    value: str | None = None
    file: Path | None = None
    env: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: object) -> object:
        if isinstance(data, str):
            return {"value": data}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Secret:
        given = [n for n in ("value", "file", "env") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of value, file, env")
        return self

    def reveal(self) -> str:
        """The secret's current value; raises OSError/KeyError naming the source if missing."""
        if self.value is not None:
            return self.value
        if self.file is not None:
            try:
                return self.file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise OSError(f"cannot read secret file {self.file}: {exc.strerror}") from None
        assert self.env is not None
        try:
            return os.environ[self.env]
        except KeyError:
            raise KeyError(f"environment variable {self.env} is not set") from None

    def check(self) -> str | None:
        """A one-line problem if the secret cannot be read now, else None."""
        try:
            self.reveal()
        except (OSError, KeyError) as exc:
            return str(exc).strip("'\"")
        return None

    def masked(self) -> str:
        """How the secret appears in /config and debug output."""
        if self.file is not None:
            return f"<secret from file {self.file}>"
        if self.env is not None:
            return f"<secret from env {self.env}>"
        return "<secret>"

    def __repr__(self) -> str:
        return f"Secret({self.masked()})"

    __str__ = __repr__


class TLSConfig(_Model):
    """TLS settings for connections to the target, as in blackbox_exporter's tls_config."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False
    min_version: Literal["TLS12", "TLS13"] | None = None

    @model_validator(mode="after")
    def _pairs(self) -> TLSConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be given together")
        return self

    def build(self) -> ssl.SSLContext:
        """One SSL context per module, built at load time (never per probe)."""
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.insecure_skip_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert_file is not None and self.key_file is not None:
            context.load_cert_chain(str(self.cert_file), str(self.key_file))
        if self.min_version == "TLS13":
            context.minimum_version = ssl.TLSVersion.TLSv1_3
        else:
            context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


class HTTPClient(_Model):
    """How requests travel: HTTP version and proxies (blackbox's http_client_config)."""

    # auto: HTTP/2 when the https server offers it by ALPN, else HTTP/1.1; "1.1": never HTTP/2;
    # "2": HTTP/2 only (ALPN on https, prior knowledge on http), anything else fails the probe.
    http_version: Literal["auto", "1.1", "2"] = "auto"
    proxy_url: str | None = None
    proxy_username: str | None = None
    proxy_password: Secret | None = None
    proxy_from_environment: bool = False
    # Hosts that bypass the proxy, as curl's NO_PROXY: names, .domains, IPs, CIDRs, `*`.
    no_proxy: list[str] = Field(default_factory=list)

    @field_validator("http_version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        # YAML reads 1.1 and 2 as numbers; the option means the same either way.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return {1.1: "1.1", 2: "2"}.get(value, str(value))
        return value

    @field_validator("proxy_url")
    @classmethod
    def _proxy_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on an invalid port
        except ValueError as exc:
            raise ValueError(f"proxy_url is not a valid URL: {exc}") from None
        if parts.scheme not in ("http", "https", "socks5", "socks5h"):
            raise ValueError("proxy_url must be an http://, https://, socks5:// or socks5h:// URL")
        if not parts.hostname:
            raise ValueError("proxy_url has no host")
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                "proxy_url must not carry credentials; use proxy_username and proxy_password"
            )
        if parts.path not in ("", "/") or parts.query:
            raise ValueError("proxy_url takes only scheme, host and port")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> HTTPClient:
        if self.proxy_url is not None and self.proxy_from_environment:
            raise ValueError("give proxy_url or proxy_from_environment, not both")
        if (self.proxy_username is None) != (self.proxy_password is None):
            raise ValueError("proxy_username and proxy_password must be given together")
        if self.proxy_username is not None and self.proxy_url is None:
            raise ValueError("proxy_username needs proxy_url")
        if self.no_proxy and self.proxy_url is None and not self.proxy_from_environment:
            raise ValueError("no_proxy needs proxy_url or proxy_from_environment")
        return self

    def proxy_settings(self) -> ProxySettings | None:
        """The proxies this module's requests use (None: direct), resolved at load."""
        if self.proxy_from_environment:
            settings = proxy_from_environment()
            if self.no_proxy:
                settings = ProxySettings(
                    settings.proxies, settings.no_proxy + _lower(self.no_proxy), settings.auth
                )
            return settings if any(settings.proxies.values()) else None
        if self.proxy_url is None:
            return None
        auth = None
        if self.proxy_username is not None and self.proxy_password is not None:
            auth = (self.proxy_username, self.proxy_password.reveal())
        proxies = {"http": self.proxy_url, "https": self.proxy_url}
        return ProxySettings(proxies, _lower(self.no_proxy), auth)


def _lower(hosts: list[str]) -> tuple[str, ...]:
    return tuple(h.strip().lower() for h in hosts if h.strip())


class Limits(_Model):
    """Caps on what a target may send and on how far a probe follows it."""

    max_response_bytes: Size = 4 * 1024 * 1024
    max_header_bytes: Size = 64 * 1024
    max_redirects: Annotated[int, Field(ge=0, le=20)] = 5
    max_pages: Annotated[int, Field(ge=1, le=1000)] = 20
    # The spec sets no length and suggests JWTs; the id is sent back on every request, so it is
    # bounded, far above any real one (a 1,565-character JWT is common).
    max_session_id_length: Annotated[int, Field(ge=1, le=1024 * 1024)] = 16384


class ToolCallExpect(_Model):
    """What the tool call's result must look like."""

    is_error: bool = False
    text_regex: str | None = None

    @field_validator("text_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return value


class ToolCall(_Model):
    """A tools/call step: the tool, its arguments, and the expectation on its result."""

    name: Annotated[str, Field(min_length=1)]
    arguments: dict[str, Any] = Field(default_factory=dict)
    expect: ToolCallExpect = Field(default_factory=ToolCallExpect)


class Expect(_Model):
    """Expectations on the server as a whole."""

    min_tools: Annotated[int, Field(ge=0)] = 0
    required_tools: list[str] = Field(default_factory=list)
    protocol_versions: list[ProtocolVersion] | None = None
    min_protocol_version: ProtocolVersion | None = None
    capabilities: list[Literal["tools", "resources", "prompts", "logging", "completions"]] = Field(
        default_factory=list
    )


def _secure_or_loopback(url: str) -> bool:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return True
    return scheme == "http" and is_loopback_host(parts.hostname or "")


class OAuth2ClientCredentials(_Model):
    """OAuth 2.0 client credentials (RFC 6749 section 4.4): the probe fetches its own token."""

    client_id: Annotated[str, Field(min_length=1)]
    client_secret: Secret
    token_url: str | None = None
    scopes: list[Annotated[str, Field(pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+$")]] = Field(
        default_factory=list
    )
    resource: str | None = None
    send_resource: bool = True
    auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, value: str | None) -> str | None:
        if value is not None and not _secure_or_loopback(value):
            raise ValueError(
                "token_url must be https (http only to a loopback address or localhost name): "
                "the client secret travels in the request"
            )
        return value

    @field_validator("resource")
    @classmethod
    def _resource(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            scheme = parts.scheme.lower()
            if scheme not in ("http", "https") or not parts.hostname or parts.fragment:
                raise ValueError("resource must be an absolute http(s) URL without a fragment")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> OAuth2ClientCredentials:
        if self.resource is not None and not self.send_resource:
            raise ValueError("resource is given but send_resource is false")
        return self


class ResponseURLPolicy(_Model):
    """Which URLs taken from a target's responses (metadata documents, redirects) may be fetched."""

    allow_http_loopback: bool = False
    allowed_hosts: list[Annotated[str, Field(min_length=1)]] | None = None
    max_fetches: Annotated[int, Field(ge=1, le=100)] = 20

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str] | None) -> list[str] | None:
        if hosts is None:
            return None
        for host in hosts:
            if "/" in host or "@" in host:
                raise ValueError(f"allowed_hosts entry {host!r} must be a host name, not a URL")
        return [h.lower().strip("[]") for h in hosts]


class DiscoveryProber(_Model):
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


class LiteLLMDirectProbe(_Model):
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


class LiteLLMGateway(_Model):
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


class MCPProber(_Model):
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
ToolName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]


class CompletionExpect(_Model):
    """What the MCP tool's result, as the gateway reports it, must look like. `{nonce}` stands
    for the probe's nonce. Neither given: the result must contain the nonce when the arguments
    send one, else only the absence of an error is checked."""

    text_contains: str | None = None
    text_regex: str | None = None

    @field_validator("text_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value.replace(NONCE, "0"))
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return value


class LiteLLMCompletionProber(_Model):
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


class LiteLLMHealthProber(_Model):
    """The gateway's own health view of each MCP server: `/v1/mcp/server/health`, named by
    `/v1/mcp/server`. The target is the gateway's base URL."""

    # The gateway key, sent as `<key_header>: Bearer <api_key>`; null: no key (LiteLLM refuses).
    api_key: Secret | None = None
    key_header: Literal["x-litellm-api-key", "authorization"] = "x-litellm-api-key"
    tls_config: TLSConfig = Field(default_factory=TLSConfig)
    limits: Limits = Field(default_factory=Limits)


class PolicyRule(_Model):
    """One allow or deny rule; every field given must match."""

    hosts: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    cidrs: list[str] = Field(default_factory=list)
    schemes: list[Literal["http", "https"]] = Field(default_factory=list)
    ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(default_factory=list)

    @field_validator("cidrs")
    @classmethod
    def _networks(cls, cidrs: list[str]) -> list[str]:
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"invalid CIDR {cidr!r}") from None
        return cidrs

    def build(self) -> Rule:
        """The runtime rule."""
        return rule(self.hosts, self.cidrs, self.schemes, self.ports)


class TargetPolicyConfig(_Model):
    """Which targets may be probed. Link-local and cloud metadata addresses are denied unless
    allow_link_local is set."""

    allow: list[PolicyRule] = Field(default_factory=list)
    deny: list[PolicyRule] = Field(default_factory=list)
    allow_link_local: bool = False

    def build(self) -> TargetPolicy:
        """The runtime policy."""
        return TargetPolicy(
            allow=tuple(r.build() for r in self.allow),
            deny=tuple(r.build() for r in self.deny),
            allow_link_local=self.allow_link_local,
        )


class Module(_Model):
    """One probe module, as in blackbox_exporter."""

    prober: Literal["mcp", "discovery", "litellm_completion", "litellm_health"]
    timeout: Duration = 10.0
    # Narrows the global target_policy for this module.
    target_policy: TargetPolicyConfig | None = None
    mcp: MCPProber = Field(default_factory=MCPProber)
    discovery: DiscoveryProber = Field(default_factory=DiscoveryProber)
    litellm_completion: LiteLLMCompletionProber | None = None
    litellm_health: LiteLLMHealthProber | None = None

    @model_validator(mode="after")
    def _blocks(self) -> Module:
        if self.prober == "litellm_health" and self.litellm_health is None:
            raise ValueError("prober litellm_health needs a litellm_health block")
        if self.prober != "litellm_health" and self.litellm_health is not None:
            raise ValueError(
                f"the litellm_health block belongs to prober litellm_health, not {self.prober}"
            )
        if self.prober != "mcp" and "mcp" in self.model_fields_set:
            raise ValueError(f"the mcp block belongs to prober mcp, not {self.prober}")
        if self.prober == "litellm_completion" and self.litellm_completion is None:
            raise ValueError("prober litellm_completion needs a litellm_completion block")
        if self.prober != "litellm_completion" and self.litellm_completion is not None:
            raise ValueError(
                "the litellm_completion block belongs to prober litellm_completion, "
                f"not {self.prober}"
            )
        unused = "discovery" in self.model_fields_set and not self.runs_discovery
        if self.prober != "discovery" and unused:
            raise ValueError(
                "the discovery block is used only with mcp.discovery_on_auth_failure "
                "or mcp.oauth2 without token_url"
            )
        return self

    @property
    def runs_discovery(self) -> bool:
        """Whether probes of this module may run authorization discovery."""
        if self.prober != "mcp":
            return self.prober == "discovery"
        oauth2 = self.mcp.oauth2
        return self.mcp.discovery_on_auth_failure or (
            oauth2 is not None and oauth2.token_url is None
        )

    @property
    def block(self) -> str:
        """The name of the prober's own block, where tls_config and limits come from."""
        return self.prober

    @property
    def tls_config(self) -> TLSConfig:
        """The TLS settings of the module's prober block."""
        if self.litellm_completion is not None:
            return self.litellm_completion.tls_config
        if self.litellm_health is not None:
            return self.litellm_health.tls_config
        return self.discovery.tls_config if self.prober == "discovery" else self.mcp.tls_config

    @property
    def http_client(self) -> HTTPClient:
        """The HTTP version and proxy settings of the module's prober block."""
        if self.litellm_completion is not None:
            return self.litellm_completion.http_client
        return self.discovery.http_client if self.prober == "discovery" else self.mcp.http_client

    @property
    def limits(self) -> Limits:
        """The limits of the module's prober block."""
        if self.litellm_completion is not None:
            return self.litellm_completion.limits
        if self.litellm_health is not None:
            return self.litellm_health.limits
        return self.discovery.limits if self.prober == "discovery" else self.mcp.limits


SourceName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class LiteLLMSource(_Model):
    """A LiteLLM gateway whose MCP servers `/sd?source=NAME` offers Prometheus as targets."""

    # The gateway's base URL (where /v1/mcp/server and the MCP endpoints are).
    url: str
    # The key, sent as `<key_header>: Bearer <api_key>`; it decides which servers are listed.
    api_key: Secret | None = None
    key_header: Literal["x-litellm-api-key", "authorization"] = "x-litellm-api-key"
    # Each target's URL: the gateway's per-server MCP endpoint in this layout.
    layout: Literal["mcp/{server}", "{server}/mcp"] = "mcp/{server}"
    # How long a fetched list is served before the gateway is asked again.
    refresh_interval: Duration = 60.0
    timeout: Duration = 10.0
    tls_config: TLSConfig = Field(default_factory=TLSConfig)
    limits: Limits = Field(default_factory=Limits)

    @field_validator("url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be an absolute http(s) URL")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("url must not have a query, fragment or credentials")
        return value.rstrip("/")


class ServiceDiscovery(_Model):
    """Sources of Prometheus HTTP service discovery (`/sd?source=NAME`)."""

    litellm: dict[SourceName, LiteLLMSource] = Field(default_factory=dict)


class Config(_Model):
    """The whole configuration file."""

    modules: dict[str, Module]
    target_policy: TargetPolicyConfig = Field(default_factory=TargetPolicyConfig)
    service_discovery: ServiceDiscovery = Field(default_factory=ServiceDiscovery)

    @field_validator("modules")
    @classmethod
    def _names(cls, modules: dict[str, Module]) -> dict[str, Module]:
        if not modules:
            raise ValueError("at least one module is required")
        for name in modules:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                raise ValueError(f"module name {name!r} may only use letters, digits, _ . -")
        return modules


@dataclass(frozen=True, slots=True)
class RuntimeModule:
    """A module ready for probing: its config plus what is built once per load."""

    name: str
    config: Module
    ssl_context: ssl.SSLContext
    policy: PolicyChain
    proxy: ProxySettings | None = None
    # OAuth client-credentials tokens per target; a config load starts a fresh cache.
    tokens: TokenCache = field(default_factory=TokenCache, compare=False, repr=False)
    # Every Secret of the module, found once per load: probes scrub their values from all
    # output, and walking the config on every probe was a measurable share of its CPU.
    secrets: tuple[Secret, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """The loaded configuration the rest of the program receives."""

    source: str
    config: Config
    modules: Mapping[str, RuntimeModule]
    # The TLS context of each service-discovery source, by name.
    sd_ssl_contexts: Mapping[str, ssl.SSLContext] = field(default_factory=dict)


_BRANCH_NAMES: Final = frozenset({"str", "int", "float", "bool", "dict", "list", "none"})


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _BRANCH_NAMES or "[" in part or part.startswith("constrained-"):
            # pydantic's union branch names are noise for a reader of the YAML file.
            continue
        else:
            if not part.isprintable() or any(c in part for c in " .:"):
                part = repr(part)  # keeps a problem on one line and its location unambiguous
            out += f".{part}" if out else part
    return out or "(top level)"


def _problem(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    where = _location(tuple(error["loc"]))
    if kind == "extra_forbidden":
        return f"{where}: unknown key"
    if kind == "missing":
        return f"{where}: required key is missing"
    if kind == "literal_error":
        expected = str(error.get("ctx", {}).get("expected", "")).replace("'", "")
        return f"{where}: {str(error.get('input'))[:60]!r} is not one of {expected}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}"


def parse(text: str, source: str) -> RuntimeConfig:
    """Parse and validate YAML text; raise ConfigError with one line per problem."""
    try:
        raw = yaml.safe_load(text)
    except RecursionError:
        raise ConfigError(source, ["invalid YAML: nested too deeply"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(source, [f"{where}invalid YAML: {problem}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError(source, ["(top level): expected a mapping with a 'modules' key"])
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        seen: list[str] = []
        for error in exc.errors():
            line = _problem(error)
            if line not in seen:
                seen.append(line)
        raise ConfigError(source, seen) from None
    problems: list[str] = []
    modules: dict[str, RuntimeModule] = {}
    contexts: dict[tuple[TLSConfig, str], ssl.SSLContext] = {}
    for name, module in config.modules.items():
        problems += [
            f"{where}: {problem}"
            for where, secret in _secrets(module, f"modules.{name}")
            if (problem := secret.check()) is not None
        ]
        try:
            # Modules with the same TLS settings share one context: building one costs ~40 ms.
            # The HTTP version is part of the key: the context carries the ALPN offer.
            key = (module.tls_config, module.http_client.http_version)
            context = contexts.get(key) or module.tls_config.build()
            contexts[key] = context
        except (OSError, ssl.SSLError) as exc:
            problems.append(
                f"modules.{name}.{module.block}.tls_config: cannot load certificates: {exc}"
            )
            continue
        policies = [config.target_policy.build()]
        if module.target_policy is not None:
            policies.append(module.target_policy.build())
        try:
            proxy = module.http_client.proxy_settings()
        except (OSError, KeyError) as exc:
            problems.append(f"modules.{name}.{module.block}.http_client: {str(exc).strip(chr(39))}")
            continue
        modules[name] = RuntimeModule(
            name,
            module,
            context,
            PolicyChain(tuple(policies)),
            proxy=proxy,
            secrets=tuple(secret for _where, secret in _secrets(module, "")),
        )
    sd_contexts: dict[str, ssl.SSLContext] = {}
    for name, sd_source in config.service_discovery.litellm.items():
        where = f"service_discovery.litellm.{name}"
        problems += [
            f"{at}: {problem}"
            for at, secret in _secrets(sd_source, where)
            if (problem := secret.check()) is not None
        ]
        try:
            sd_key = (sd_source.tls_config, "1.1")
            sd_contexts[name] = contexts.get(sd_key) or sd_source.tls_config.build()
        except (OSError, ssl.SSLError) as exc:
            problems.append(f"{where}.tls_config: cannot load certificates: {exc}")
    if problems:
        raise ConfigError(source, problems)
    return RuntimeConfig(source, config, modules, sd_contexts)


def _secrets(model: Any, where: str) -> Iterator[tuple[str, Secret]]:
    """Every Secret in a config model, with its dotted location."""
    if isinstance(model, Secret):
        yield where, model
    elif isinstance(model, BaseModel):
        for name in type(model).model_fields:
            yield from _secrets(getattr(model, name), f"{where}.{name}")
    elif isinstance(model, dict):
        for key, value in model.items():
            yield from _secrets(value, f"{where}.{key}")
    elif isinstance(model, list | tuple):
        for index, value in enumerate(model):
            yield from _secrets(value, f"{where}[{index}]")


def load(path: Path | None) -> RuntimeConfig:
    """Load a config file, or the built-in default config when `path` is None."""
    if path is None:
        text = resources.files("exporter").joinpath("default.yml").read_text(encoding="utf-8")
        return parse(text, "<built-in default>")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read file: {exc.strerror}"]) from None
    return parse(text, str(path))


def masked_dump(config: Config) -> str:
    """The config as YAML with every secret masked, for /config and debug output."""
    return yaml.safe_dump(_mask(config.model_dump(mode="python"), config), sort_keys=False)


def module_yaml(module: Module) -> str:
    """One module as YAML with secrets masked."""
    return yaml.safe_dump(_mask(module.model_dump(mode="python"), module), sort_keys=False)


def _mask(data: Any, model: Any) -> Any:
    if isinstance(model, Secret):
        return model.masked()
    if isinstance(model, BaseModel) and isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            child = getattr(model, key, None)
            out[key] = _mask(value, child)
        return out
    if isinstance(model, dict) and isinstance(data, dict):
        out = {}
        for key, value in data.items():
            child = model.get(key)
            # Inline values of ordinary headers (x-mcp-servers, ...) help a reader; values of
            # credential-like headers and anything from a file or env are masked.
            if (
                isinstance(child, Secret)
                and child.value is not None
                and not (is_sensitive_header(str(key)))
            ):
                out[key] = child.value
            else:
                out[key] = _mask(value, child)
        return out
    if isinstance(model, list) and isinstance(data, list):
        return [_mask(v, m) for v, m in zip(data, model, strict=False)]
    if isinstance(data, Path):
        return str(data)
    return data


def hidden_secret_values(model: Any) -> list[str]:
    """The current values of the Secrets read from files or the environment (inline values of
    ordinary headers are shown in /config, so they are not hidden)."""
    found: list[str] = []
    for _where, secret in _secrets(model, ""):
        if secret.value is None:
            with contextlib.suppress(OSError, KeyError):
                found.append(secret.reveal())
    return found


def secret_values(model: Any) -> list[str]:
    """The current values of every Secret in a config model (for scrubbing probe output)."""
    found: list[str] = []
    for _where, secret in _secrets(model, ""):
        # An unreadable secret cannot have been sent, so there is nothing to scrub.
        with contextlib.suppress(OSError, KeyError):
            found.append(secret.reveal())
    return found
