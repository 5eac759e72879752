"""Blocks shared by the probers' config: TLS, the HTTP client (version, proxies), limits,
OAuth2 client credentials, the URL policy for URLs from answers, and the target policy."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    ByteSize,
    Field,
    field_validator,
    model_validator,
)

from ..net.proxy import ProxySettings
from ..net.proxy import from_environment as proxy_from_environment
from ..policy import Rule, TargetPolicy, is_loopback_host, rule
from .types import (
    SCOPE_PATTERN,
    Duration,
    Secret,
    Size,
    StrictModel,
)


class TLSConfig(StrictModel):
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


class HTTPClient(StrictModel):
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


class Limits(StrictModel):
    """Caps on what a target may send and on how far a probe follows it."""

    max_response_bytes: Size = ByteSize(4 * 1024 * 1024)
    max_header_bytes: Size = ByteSize(64 * 1024)
    max_redirects: Annotated[int, Field(ge=0, le=20)] = 5
    max_pages: Annotated[int, Field(ge=1, le=1000)] = 20
    # The spec sets no length and suggests JWTs; the id is sent back on every request, so it is
    # bounded, far above any real one (a 1,565-character JWT is common).
    max_session_id_length: Annotated[int, Field(ge=1, le=1024 * 1024)] = 16384


def _secure_or_loopback(url: str) -> bool:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return True
    return scheme == "http" and is_loopback_host(parts.hostname or "")


class OAuth2ClientCredentials(StrictModel):
    """OAuth 2.0 client credentials (RFC 6749 section 4.4): the probe fetches its own token.

    The client authenticates with its secret (`client_secret_basic`, `client_secret_post`) or
    with a JWT signed by its private key (`private_key_jwt`, RFC 7523 section 2.2).
    """

    client_id: Annotated[str, Field(min_length=1)]
    client_secret: Secret | None = None
    token_url: str | None = None
    # Sent space-separated as `scope`; [] sends none. Unset: the MCP specification's scope
    # selection when discovery finds the token endpoint (the 401 challenge's scope, else the
    # protected resource's scopes_supported, else none), and none with a token_url.
    scopes: list[Annotated[str, Field(pattern=SCOPE_PATTERN)]] | None = None
    resource: str | None = None
    send_resource: bool = True
    auth_method: Literal["client_secret_basic", "client_secret_post", "private_key_jwt"] = (
        "client_secret_basic"
    )
    # private_key_jwt: the PEM private key (a file, as a mounted secret, is the usual source),
    # the JWS `kid` the authorization server finds the public key by, and the algorithm.
    private_key: Secret | None = None
    key_id: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    signing_algorithm: Literal["RS256", "ES256"] = "RS256"
    # The assertion's `aud`: the token endpoint (RFC 7523 section 3), the issuer that discovery
    # found (what some servers and the MCP conformance suite expect), or a URL given here.
    assertion_audience: str = "token_endpoint"
    # Short-lived: the assertion is good for one token request.
    assertion_lifetime: Duration = 60.0

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, value: str | None) -> str | None:
        if value is not None and not _secure_or_loopback(value):
            raise ValueError(
                "token_url must be https (http only to a loopback address or localhost name): "
                "the client's credentials travel in the request"
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

    @field_validator("assertion_audience")
    @classmethod
    def _audience(cls, value: str) -> str:
        if value in ("token_endpoint", "issuer"):
            return value
        parts = urlsplit(value)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "assertion_audience must be token_endpoint, issuer or an absolute http(s) URL"
            )
        return value

    @field_validator("assertion_lifetime")
    @classmethod
    def _lifetime(cls, value: float) -> float:
        if value > 600:
            raise ValueError(
                "assertion_lifetime must be at most 10m: an assertion serves one token request"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> OAuth2ClientCredentials:
        if self.resource is not None and not self.send_resource:
            raise ValueError("resource is given but send_resource is false")
        if self.auth_method == "private_key_jwt":
            if self.private_key is None:
                raise ValueError("auth_method private_key_jwt needs private_key")
            if self.client_secret is not None:
                raise ValueError(
                    "client_secret is given but auth_method private_key_jwt signs with "
                    "private_key instead"
                )
            if self.assertion_audience == "issuer" and self.token_url is not None:
                raise ValueError(
                    "assertion_audience issuer comes from discovery: omit token_url, or give "
                    "the issuer's URL as assertion_audience"
                )
            return self
        if self.client_secret is None:
            raise ValueError(f"auth_method {self.auth_method} needs client_secret")
        jwt_only = (
            "private_key",
            "key_id",
            "signing_algorithm",
            "assertion_audience",
            "assertion_lifetime",
        )
        given = [name for name in jwt_only if name in self.model_fields_set]
        if given:
            raise ValueError(
                f"{', '.join(given)}: only for auth_method private_key_jwt, not {self.auth_method}"
            )
        return self


class ResponseURLPolicy(StrictModel):
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


class PolicyRule(StrictModel):
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


class TargetPolicyConfig(StrictModel):
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
