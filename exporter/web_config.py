"""`--web.config.file`: TLS and basic auth for the exporter's own endpoints.

The file format is the Prometheus exporter-toolkit's, so operators reuse what they already
have for Go exporters: `tls_server_config`, `basic_auth_users` (bcrypt hashes) and
`http_server_config.headers`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

import bcrypt
import yaml
from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .config import ConfigError

ClientAuth = Literal[
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TLSServerConfig(_Model):
    """exporter-toolkit's tls_server_config (the options Python's ssl module can honour)."""

    cert_file: Path
    key_file: Path
    client_auth_type: ClientAuth = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: Literal["TLS12", "TLS13"] = "TLS12"
    max_version: Literal["TLS12", "TLS13"] | None = None

    @model_validator(mode="after")
    def _client_ca(self) -> TLSServerConfig:
        verifying = self.client_auth_type in (
            "VerifyClientCertIfGiven",
            "RequireAndVerifyClientCert",
        )
        if verifying and self.client_ca_file is None:
            raise ValueError(f"client_auth_type {self.client_auth_type} needs client_ca_file")
        return self

    def build(self) -> ssl.SSLContext:
        """The server SSL context."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        context.minimum_version = getattr(ssl.TLSVersion, f"TLSv1_{self.min_version[-1]}")
        if self.max_version is not None:
            context.maximum_version = getattr(ssl.TLSVersion, f"TLSv1_{self.max_version[-1]}")
        if self.client_ca_file is not None:
            context.load_verify_locations(cafile=str(self.client_ca_file))
        # Python cannot request a certificate without verifying it against a CA, so the
        # "Request"/"RequireAny" modes verify when a CA is given and otherwise ask for nothing.
        context.verify_mode = {
            "NoClientCert": ssl.CERT_NONE,
            "RequestClientCert": ssl.CERT_OPTIONAL if self.client_ca_file else ssl.CERT_NONE,
            "RequireAnyClientCert": ssl.CERT_REQUIRED if self.client_ca_file else ssl.CERT_NONE,
            "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
            "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
        }[self.client_auth_type]
        return context


class HTTPServerConfig(_Model):
    """exporter-toolkit's http_server_config (headers only; HTTP/2 is not served)."""

    headers: dict[str, str] = Field(default_factory=dict)
    http2: bool | None = None


class WebConfig(_Model):
    """The whole web config file."""

    tls_server_config: TLSServerConfig | None = None
    basic_auth_users: dict[str, str] = Field(default_factory=dict)
    http_server_config: HTTPServerConfig = Field(default_factory=HTTPServerConfig)

    @model_validator(mode="after")
    def _hashes(self) -> WebConfig:
        for user, hashed in self.basic_auth_users.items():
            if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
                raise ValueError(f"basic_auth_users.{user}: not a bcrypt hash")
        return self


def load_web_config(path: Path) -> WebConfig:
    """Read and validate a web config file; ConfigError with one line per problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read file: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"invalid YAML: {str(exc).splitlines()[0]}"]) from None
    try:
        config = WebConfig.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "(top level)"
            message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
            problems.append(f"{where}: {str(message).removeprefix('Value error, ')}")
        raise ConfigError(str(path), problems) from None
    if config.tls_server_config is not None:
        try:
            config.tls_server_config.build()
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(str(path), [f"tls_server_config: {exc}"]) from None
    return config


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def basic_auth_middleware(
    users: dict[str, str],
) -> Middleware:
    """Require HTTP basic auth against bcrypt hashes.

    bcrypt is deliberately slow; a successful check is remembered (by a keyed digest of the
    credentials, never the password) so that scrapes every few seconds do not pay for it.
    """
    verified: set[bytes] = set()
    key = bcrypt.gensalt()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            hashed = users.get(user)
            if hashed is not None:
                digest = hmac.new(key, f"{user}\0{password}".encode(), hashlib.sha256).digest()
                if digest in verified or await asyncio.to_thread(
                    bcrypt.checkpw, password.encode(), hashed.encode()
                ):
                    verified.add(digest)
                    return await handler(request)
        return web.Response(
            status=401,
            text="Unauthorized\n",
            headers={"WWW-Authenticate": 'Basic realm="mcp-exporter"'},
        )

    return middleware


def headers_middleware(
    headers: dict[str, str],
) -> Middleware:
    """Add the configured response headers to every response."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        for name, value in headers.items():
            response.headers[name] = value
        return response

    return middleware
