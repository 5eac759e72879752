"""The whole file's schema: modules (each naming its prober, with that prober's block),
the global target policy and the service-discovery sources; each model validates its own
cross-field rules at load, so a bad file never half-loads."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from .blocks import (
    HTTPClient,
    Limits,
    TargetPolicyConfig,
    TLSConfig,
)
from .probers import (
    DiscoveryProber,
    LiteLLMCompletionProber,
    LiteLLMHealthProber,
    MCPProber,
)
from .types import (
    Duration,
    Secret,
    StrictModel,
)


class Module(StrictModel):
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
    def prober_kind(self) -> str:
        """The prober that runs this module: its `prober`, except that an mcp module with a
        litellm block talks MCP through the gateway (the same conversation, plus the gateway's
        headers, debug headers and diagnoses): the litellm_gateway prober."""
        if self.prober == "mcp" and self.mcp.litellm is not None:
            return "litellm_gateway"
        return self.prober

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


class LiteLLMSource(StrictModel):
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


class ServiceDiscovery(StrictModel):
    """Sources of Prometheus HTTP service discovery (`/sd?source=NAME`)."""

    litellm: dict[SourceName, LiteLLMSource] = Field(default_factory=dict)


class Config(StrictModel):
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
