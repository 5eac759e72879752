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
import re
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final, Literal

import bcrypt
import yaml
from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from .config import ALIASING_PROBLEM, ConfigError, excessive_aliasing, read_text

ClientAuth = Literal[
    "",
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "RequireClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
]

# exporter-toolkit's client_auth_type (Go's tls.ClientAuthType) as Python's ssl can serve it.
# RequestClientCert asks for a certificate but accepts any answer, so it admits every client
# exactly like NoClientCert. Python cannot require a certificate without verifying it, so
# RequireAnyClientCert (and its old name RequireClientCert) verifies against client_ca_file and
# is refused without one, where it would otherwise silently admit every client.
_VERIFY_MODES: Final[dict[str, ssl.VerifyMode]] = {
    "": ssl.CERT_NONE,
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_NONE,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_NEEDS_CA: Final = frozenset(
    (
        "RequireAnyClientCert",
        "RequireClientCert",
        "VerifyClientCertIfGiven",
        "RequireAndVerifyClientCert",
    )
)


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

    @field_validator("cert_file", "key_file", mode="before")
    @classmethod
    def _named(cls, value: object) -> object:
        if value == "":  # Path("") would be the working directory
            raise ValueError("must name a file")
        return value

    @field_validator("client_ca_file", mode="before")
    @classmethod
    def _optional(cls, value: object) -> object:
        # exporter-toolkit reads an empty client_ca_file as not set.
        return None if value == "" else value

    def problems(self) -> list[str]:
        """Cross-field rules, one line each, located by the key to change."""
        auth = self.client_auth_type
        if auth in _NEEDS_CA and self.client_ca_file is None:
            why = (
                "Python's TLS cannot accept a client certificate without verifying it"
                if auth in ("RequireAnyClientCert", "RequireClientCert")
                else "client certificates are verified against it"
            )
            return [f"tls_server_config.client_auth_type: {auth} needs client_ca_file ({why})"]
        if auth in ("", "NoClientCert") and self.client_ca_file is not None:
            # exporter-toolkit refuses this too: a CA that is never used is a mistake.
            return [
                "tls_server_config.client_ca_file: set, but client_auth_type "
                f"{auth or 'NoClientCert'} never checks client certificates"
            ]
        return []

    def resolved(self, directory: Path) -> TLSServerConfig:
        """Relative file names taken from the web config file's directory, as exporter-toolkit
        does, so the file works whatever the working directory."""
        return self.model_copy(
            update={
                "cert_file": directory / self.cert_file,
                "key_file": directory / self.key_file,
                "client_ca_file": None
                if self.client_ca_file is None
                else directory / self.client_ca_file,
            }
        )

    def build(self) -> ssl.SSLContext:
        """The server SSL context; ValueError naming the key and file that cannot be used."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = getattr(ssl.TLSVersion, f"TLSv1_{self.min_version[-1]}")
        if self.max_version is not None:
            context.maximum_version = getattr(ssl.TLSVersion, f"TLSv1_{self.max_version[-1]}")
        for key in ("cert_file", "key_file", "client_ca_file"):
            path = getattr(self, key)
            if path is not None and not path.is_file():
                raise ValueError(f"tls_server_config.{key}: cannot read {path}: no such file")
        try:
            context.load_cert_chain(str(self.cert_file), str(self.key_file))
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"tls_server_config.cert_file, key_file: cannot load {self.cert_file} with "
                f"{self.key_file}: {_ssl_reason(exc)}"
            ) from None
        if self.client_ca_file is not None:
            try:
                context.load_verify_locations(cafile=str(self.client_ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
                    f"tls_server_config.client_ca_file: cannot load {self.client_ca_file}: "
                    f"{_ssl_reason(exc)}"
                ) from None
        context.verify_mode = _VERIFY_MODES[self.client_auth_type]
        return context


def _ssl_reason(exc: OSError | ssl.SSLError) -> str:
    reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
    return str(reason).replace("_", " ").lower()


class HTTPServerConfig(_Model):
    """exporter-toolkit's http_server_config (headers only; HTTP/2 is not served)."""

    headers: dict[str, str] = Field(default_factory=dict)
    http2: bool | None = None


class WebConfig(_Model):
    """The whole web config file."""

    tls_server_config: TLSServerConfig | None = None
    basic_auth_users: dict[str, str] = Field(default_factory=dict)
    http_server_config: HTTPServerConfig = Field(default_factory=HTTPServerConfig)
    _tls_context: ssl.SSLContext | None = PrivateAttr(default=None)

    def problems(self) -> list[str]:
        """Rules beyond the types, one line each, located by the key to change."""
        problems = [
            f"basic_auth_users.{user}: not a bcrypt hash"
            for user, hashed in self.basic_auth_users.items()
            if not _is_bcrypt_hash(hashed)
        ]
        problems += [
            f"http_server_config.headers.{name}: {problem}"
            for name, value in self.http_server_config.headers.items()
            if (problem := _header_problem(name, value)) is not None
        ]
        if self.tls_server_config is not None:
            problems += self.tls_server_config.problems()
        return problems

    @property
    def tls_context(self) -> ssl.SSLContext | None:
        """The SSL context built from tls_server_config when the file was loaded."""
        return self._tls_context

    def build_tls_context(self) -> None:
        """Build the SSL context of tls_server_config now (reading its certificate and key
        files), for `tls_context`; ValueError if they do not make one."""
        tls = self.tls_server_config
        self._tls_context = None if tls is None else tls.build()


_BCRYPT: Final = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
# RFC 9110 token characters: what a header name may hold.
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _is_bcrypt_hash(hashed: str) -> bool:
    """A hash bcrypt can check a password against. Its salt is decoded as well (at the lowest
    cost, so that loading stays fast whatever cost the hash names): a malformed one would
    otherwise fail each request of that user with a server error."""
    if _BCRYPT.fullmatch(hashed) is None:
        return False
    try:
        bcrypt.checkpw(b"", f"{hashed[:4]}04{hashed[6:]}".encode())
    except ValueError:
        return False
    return True


def _header_problem(name: str, value: str) -> str | None:
    """Why a response header cannot be sent, or None; such a header would break every
    response rather than the reload that brought it."""
    if _TOKEN.fullmatch(name) is None:
        return "not a valid header name"
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
        return "the value contains control characters"
    return None


def load_web_config(path: Path) -> WebConfig:
    """Read and validate a web config file, building its SSL context (so certificate and key
    files are read now, not at the first handshake); ConfigError with one line per problem."""
    text = read_text(path)
    try:
        raw = yaml.safe_load(text) or {}
    except RecursionError:
        raise ConfigError(str(path), ["invalid YAML: nested too deeply"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"invalid YAML: {str(exc).splitlines()[0]}"]) from None
    if excessive_aliasing(raw):
        raise ConfigError(str(path), [ALIASING_PROBLEM])
    try:
        config = WebConfig.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "(top level)"
            message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
            problems.append(f"{where}: {str(message).removeprefix('Value error, ')}")
        raise ConfigError(str(path), problems) from None
    problems = config.problems()
    if problems:
        raise ConfigError(str(path), problems)
    tls = config.tls_server_config
    if tls is not None:
        tls = tls.resolved(path.parent)
        config = config.model_copy(update={"tls_server_config": tls})
        try:
            config.build_tls_context()
        except ValueError as exc:
            raise ConfigError(str(path), [str(exc)]) from None
    return config


class SwappableTLSContext(ssl.SSLContext):
    """The context given to the listening socket, handing each new connection to the context
    of the web config loaded last: a reload changes certificates, client CAs and client_auth_type
    for new connections without closing the listener; connections already open keep theirs."""

    current: ssl.SSLContext

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        """What asyncio calls for each accepted TLS connection: the current context's."""
        return self.current.wrap_bio(incoming, outgoing, server_side, server_hostname, session)

    def wrap_socket(self, sock: socket.socket, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        """Blocking sockets, too, use the current context."""
        return self.current.wrap_socket(sock, *args, **kwargs)


def swappable(context: ssl.SSLContext) -> SwappableTLSContext:
    """A listener context that starts with `context`."""
    wrapper = SwappableTLSContext(ssl.PROTOCOL_TLS_SERVER)
    wrapper.current = context
    return wrapper


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WebConfigGetter = Callable[[], "WebConfig | None"]


def basic_auth_middleware(current: WebConfigGetter) -> Middleware:
    """Require HTTP basic auth against the bcrypt hashes of the web config loaded last.

    bcrypt is deliberately slow; a successful check is remembered (by a keyed digest of the
    credentials and the hash they matched, never the password) so that scrapes every few seconds
    do not pay for it, and a reload that changes or removes a user's hash forgets it.
    """
    verified: set[bytes] = set()
    key = bcrypt.gensalt()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        config = current()
        users = config.basic_auth_users if config is not None else {}
        if not users:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            hashed = users.get(user)
            if hashed is not None:
                digest = hmac.new(
                    key, f"{user}\0{hashed}\0{password}".encode(), hashlib.sha256
                ).digest()
                if digest in verified or await asyncio.to_thread(_checkpw, password, hashed):
                    verified.add(digest)
                    return await handler(request)
        return web.Response(
            status=401,
            text="Unauthorized\n",
            headers={"WWW-Authenticate": 'Basic realm="mcp-exporter"'},
        )

    return middleware


def _checkpw(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:  # a password longer than bcrypt's 72 bytes matches no hash
        return False


def headers_middleware(current: WebConfigGetter) -> Middleware:
    """Add the response headers of the web config loaded last to every response."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        config = current()
        if config is not None:
            for name, value in config.http_server_config.headers.items():
                response.headers[name] = value
        return response

    return middleware
