"""The whole file's schema: modules (each naming its prober, with that prober's block),
the global target policy and the service-discovery sources; each model validates its own
cross-field rules at load, so a bad file never half-loads."""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal
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

# Each prober's name and the block that configures it.
PROBER_BLOCKS: Final = {
    "mcp": "mcp",
    "discovery": "discovery",
    "litellm_completion": "litellm_completion",
    "litellm_health": "litellm_health",
}


class ModuleBase(StrictModel):
    """What every module has: which prober runs it, its timeout and its target policy."""

    prober: str
    timeout: Duration = 10.0
    # Narrows the global target_policy for this module.
    target_policy: TargetPolicyConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _own_blocks(cls, data: object) -> object:
        # The union's tag picks the model, and each model forbids other probers' blocks; said
        # that way ("unknown key") the operator would not learn which prober the block is for.
        if not isinstance(data, dict) or not isinstance(data.get("prober"), str):
            return data
        prober = data["prober"]
        for block in ("litellm_health", "mcp", "litellm_completion"):
            if prober == block and block not in data and block != "mcp":
                raise ValueError(f"prober {block} needs a {block} block")
            if prober != block and block in data:
                raise ValueError(f"the {block} block belongs to prober {block}, not {prober}")
        if prober not in ("mcp", "discovery") and "discovery" in data:
            raise ValueError(_DISCOVERY_UNUSED)
        return data

    @property
    def runs_discovery(self) -> bool:
        """Whether probes of this module may run authorization discovery."""
        return False

    @property
    def prober_kind(self) -> str:
        """The entry of the prober table that runs this module."""
        return self.prober

    @property
    def block(self) -> str:
        """The name of the prober's own block, where tls_config and limits come from."""
        return PROBER_BLOCKS[self.prober]

    @property
    def tls_config(self) -> TLSConfig:
        """The TLS settings of the module's prober block."""
        return TLSConfig()

    @property
    def http_client(self) -> HTTPClient:
        """The HTTP version and proxy settings of the module's prober block."""
        return HTTPClient()

    @property
    def limits(self) -> Limits:
        """The limits of the module's prober block."""
        return Limits()


_DISCOVERY_UNUSED: Final = (
    "the discovery block is used only with mcp.discovery_on_auth_failure "
    "or mcp.oauth2 without token_url"
)


class MCPModule(ModuleBase):
    """A module of the mcp prober: one MCP conversation, and discovery when auth fails."""

    prober: Literal["mcp"]
    mcp: MCPProber = Field(default_factory=MCPProber)
    # Used by discovery_on_auth_failure and by oauth2 without token_url.
    discovery: DiscoveryProber = Field(default_factory=DiscoveryProber)

    @model_validator(mode="after")
    def _discovery_used(self) -> MCPModule:
        if "discovery" in self.model_fields_set and not self.runs_discovery:
            raise ValueError(_DISCOVERY_UNUSED)
        return self

    @property
    def runs_discovery(self) -> bool:
        """Whether probes of this module may run authorization discovery."""
        oauth2 = self.mcp.oauth2
        return self.mcp.discovery_on_auth_failure or (
            oauth2 is not None and oauth2.token_url is None
        )

    @property
    def prober_kind(self) -> str:
        """An mcp module with a litellm block talks MCP through the gateway (the same
        conversation, plus the gateway's headers, debug headers and diagnoses): the
        litellm_gateway prober."""
        return "litellm_gateway" if self.mcp.litellm is not None else "mcp"

    @property
    def tls_config(self) -> TLSConfig:
        """The TLS settings of the mcp block."""
        return self.mcp.tls_config

    @property
    def http_client(self) -> HTTPClient:
        """The HTTP version and proxy settings of the mcp block."""
        return self.mcp.http_client

    @property
    def limits(self) -> Limits:
        """The limits of the mcp block."""
        return self.mcp.limits


class DiscoveryModule(ModuleBase):
    """A module of the discovery prober: OAuth metadata discovery on its own."""

    prober: Literal["discovery"]
    discovery: DiscoveryProber = Field(default_factory=DiscoveryProber)

    @property
    def runs_discovery(self) -> bool:
        """Discovery is what this module probes."""
        return True

    @property
    def tls_config(self) -> TLSConfig:
        """The TLS settings of the discovery block."""
        return self.discovery.tls_config

    @property
    def http_client(self) -> HTTPClient:
        """The HTTP version and proxy settings of the discovery block."""
        return self.discovery.http_client

    @property
    def limits(self) -> Limits:
        """The limits of the discovery block."""
        return self.discovery.limits


class LiteLLMCompletionModule(ModuleBase):
    """A module of the litellm_completion prober: one model turn that calls an MCP tool."""

    prober: Literal["litellm_completion"]
    litellm_completion: LiteLLMCompletionProber

    @property
    def tls_config(self) -> TLSConfig:
        """The TLS settings of the litellm_completion block."""
        return self.litellm_completion.tls_config

    @property
    def http_client(self) -> HTTPClient:
        """The HTTP version and proxy settings of the litellm_completion block."""
        return self.litellm_completion.http_client

    @property
    def limits(self) -> Limits:
        """The limits of the litellm_completion block."""
        return self.litellm_completion.limits


class LiteLLMHealthModule(ModuleBase):
    """A module of the litellm_health prober: the gateway's health view of its servers."""

    prober: Literal["litellm_health"]
    litellm_health: LiteLLMHealthProber

    @property
    def tls_config(self) -> TLSConfig:
        """The TLS settings of the litellm_health block."""
        return self.litellm_health.tls_config

    @property
    def limits(self) -> Limits:
        """The limits of the litellm_health block."""
        return self.litellm_health.limits


# One module: the model its `prober` names.
Module = Annotated[
    MCPModule | DiscoveryModule | LiteLLMCompletionModule | LiteLLMHealthModule,
    Field(discriminator="prober"),
]


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
