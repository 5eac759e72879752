"""An OAuth 2.0 authorization server for tests, built on Authlib, bound to 127.0.0.1.

Authlib (``authlib.oauth2``) does the protocol work: client authentication
(``client_secret_basic``, ``client_secret_post``, ``private_key_jwt`` with RFC 7523 assertions
verified against the client's registered JWKS, ``none`` for public clients), the
client-credentials and authorization-code grants with PKCE (RFC 7636, S256 only), RFC 6749
error responses (``invalid_client`` with 401 and ``WWW-Authenticate: Basic``, ``invalid_scope``,
``unsupported_grant_type``, ...), RFC 9068 JWT access tokens (``typ: at+jwt``, RS256) and the
RFC 8414 / OpenID Connect metadata validation. This file only adapts Authlib to Starlette, keeps
clients and codes in memory and counts the requests.

Endpoints (``{issuer}`` is ``http://127.0.0.1:{port}{issuer_path}``):

- ``/.well-known/oauth-authorization-server{issuer_path}`` RFC 8414 metadata
- ``/.well-known/openid-configuration{issuer_path}`` and, for an issuer with a path,
  ``{issuer_path}/.well-known/openid-configuration``: OpenID Connect discovery (both forms the MCP
  spec tries)
- ``{issuer}/token``, ``{issuer}/authorize``, ``{issuer}/jwks``
- ``/_peer/stats`` (GET) and ``/_peer/reset`` (POST): the request counters, for tests only; never
  part of the metadata

RFC 8707: ``resource`` parameters (repeatable) become the token's ``aud`` (one value: a string,
several: a list); a ``resource`` that is not an absolute URI without fragment gets
``invalid_target``. Without ``resource`` the audience is the client id, as Authlib does by default.

Run: ``python authorization_server.py --port 0 [--token-lifetime 3] [--issuer-path /tenant1]
[--host-name localhost]`` (the host name only changes the URLs; it always binds 127.0.0.1).
When it serves, it prints one JSON line to stdout: ``{"issuer": ..., "port": ...}``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import contextvars
import json
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import uvicorn
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InvalidScopeError,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SCOPES_SUPPORTED = ["mcp:read", "mcp:write", "mcp:admin"]


# --- models -------------------------------------------------------------------------------------


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str | None
    scope: str
    auth_methods: tuple[str, ...] = ("client_secret_basic", "client_secret_post")
    redirect_uris: tuple[str, ...] = ("http://127.0.0.1/callback",)
    grant_types: tuple[str, ...] = ("client_credentials", "authorization_code")
    # private_key_jwt: the client's public keys (a JWK set), as registered out of band.
    jwks: dict[str, Any] | None = None

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return self.scope
        allowed = set(scope_to_list(self.scope))
        return " ".join(s for s in scope_to_list(scope) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client_secret is not None and secrets.compare_digest(
            client_secret, self.client_secret
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in self.auth_methods

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> None:
        return None

    def get_auth_time(self) -> None:
        return None

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None

    def is_expired(self) -> bool:
        return time.time() > self.expires_at


@dataclass
class User:
    user_id: str = "probe-user"

    def get_user_id(self) -> str:
        return self.user_id


@dataclass
class Stats:
    """What the tests read back through ``/_peer/stats``. Secrets are never recorded."""

    token_requests: int = 0
    tokens_issued: int = 0
    authorize_requests: int = 0
    metadata_requests: int = 0
    jwks_requests: int = 0
    token_log: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "token_requests": self.token_requests,
                "tokens_issued": self.tokens_issued,
                "authorize_requests": self.authorize_requests,
                "metadata_requests": self.metadata_requests,
                "jwks_requests": self.jwks_requests,
                "token_log": list(self.token_log),
            }

    def reset(self) -> None:
        with self.lock:
            self.token_requests = self.tokens_issued = self.authorize_requests = 0
            self.metadata_requests = self.jwks_requests = 0
            self.token_log.clear()


DEFAULT_CLIENT = Client("probe-client", "probe-secret", "mcp:read mcp:write")


# --- Authlib glue -------------------------------------------------------------------------------

_RESOURCES: contextvars.ContextVar[tuple[str, ...]]
_RESOURCES = contextvars.ContextVar("resources", default=())


class InvalidTargetError(OAuth2Error):  # type: ignore[misc]
    """RFC 8707 section 2: the requested resource is invalid or unknown."""

    error = "invalid_target"


class FormPayload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, values: dict[str, list[str]]) -> None:
        self._values = values

    @property
    def data(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._values.items() if v}

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._values


class StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]
    def __init__(
        self,
        method: str,
        uri: str,
        headers: Any,
        query: dict[str, list[str]],
        form: dict[str, list[str]],
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self._query = query
        self._form = form
        merged = {**query, **form} if method == "POST" else dict(query)
        self.payload = FormPayload(merged)

    @property
    def args(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._query.items() if v}

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._form.items() if v}


def _check_resources(request: OAuth2Request) -> tuple[str, ...]:
    resources = tuple(request.payload.datalist.get("resource", []))
    for resource in resources:
        parts = urlsplit(resource)
        if not parts.scheme or not parts.netloc or parts.fragment or "#" in resource:
            raise InvalidTargetError(description="resource: an absolute URI without fragment")
    return resources


def _check_client_scope(client: Client, scope: str | None) -> None:
    if scope and not set(scope_to_list(scope)) <= set(scope_to_list(client.scope)):
        raise InvalidScopeError


class PrivateKeyJWT(JWTBearerClientAssertion):  # type: ignore[misc]
    """RFC 7523 section 2.2 client authentication: the assertion's signature is checked with
    the client's registered keys (by ``kid`` when it has several), ``aud`` must be the token
    endpoint or the issuer, ``exp`` is required and a ``jti`` is accepted once."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, audiences: list[str]) -> None:
        super().__init__(validate_jti=True, leeway=5)
        self._audiences = audiences
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def get_audiences(self) -> list[str]:
        return self._audiences

    def resolve_client_public_key(self, client: Client) -> dict[str, Any]:
        return client.jwks or {"keys": []}

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        with self._lock:
            now = time.time()
            for old in [k for k, until in self._seen.items() if until < now]:
                del self._seen[old]
            if jti in self._seen:
                return False
            self._seen[jti] = float(claims.get("exp", now + 300))
            return True


def _assertion_summary(form: dict[str, list[str]]) -> dict[str, Any] | None:
    """What a test may look at in a client assertion (header and claims, unverified); the
    assertion itself is never recorded."""
    values = form.get("client_assertion") or []
    if not values:
        return None
    try:
        header_b64, payload_b64 = values[0].split(".")[:2]
        header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
        claims = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    except (ValueError, TypeError):
        return {"malformed": True}
    return {"header": header, "claims": claims}


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        _check_client_scope(self.request.client, self.request.payload.scope)
        _RESOURCES.set(_check_resources(self.request))

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        scope = self.request.client.get_allowed_scope(self.request.payload.scope)
        token = self.generate_token(scope=scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.server.codes[code] = AuthorizationCode(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=data.get("redirect_uri") or request.client.get_default_redirect_uri(),
            scope=request.client.get_allowed_scope(data.get("scope")),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            expires_at=time.time() + 300,
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        item: AuthorizationCode | None = self.server.codes.get(code)
        if item and item.client_id == client.client_id and not item.is_expired():
            return item
        return None

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        self.server.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User:
        return User()

    def validate_token_request(self) -> None:
        super().validate_token_request()
        _RESOURCES.set(_check_resources(self.request))


class S256Only(CodeChallenge):  # type: ignore[misc]
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]


class AccessTokenGenerator(JWTBearerTokenGenerator):  # type: ignore[misc]
    def __init__(self, issuer: str, key: RSAKey, lifetime: int) -> None:
        super().__init__(issuer, expires_generator=lambda client, grant_type: lifetime)
        self._key = key

    def get_jwks(self) -> dict[str, Any]:
        return {"keys": [self._key.as_dict(private=True)]}

    def get_audiences(self, client: Client, user: Any, scope: str | None) -> str | list[str]:
        resources = _RESOURCES.get()
        if len(resources) == 1:
            return resources[0]
        if resources:
            return list(resources)
        return client.get_client_id()


class Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, clients: dict[str, Client]) -> None:
        super().__init__(scopes_supported=SCOPES_SUPPORTED)
        self.clients = clients
        self.codes: dict[str, AuthorizationCode] = {}

    def query_client(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        return None

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def create_oauth2_request(self, request: StarletteOAuth2Request) -> StarletteOAuth2Request:
        return request

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, headers


# --- the application ----------------------------------------------------------------------------


@dataclass
class Settings:
    base_url: str
    issuer_path: str = ""
    token_lifetime: int = 3600
    metadata: tuple[str, ...] = ("rfc8414", "oidc")
    clients: tuple[Client, ...] = ()

    @property
    def issuer(self) -> str:
        return self.base_url + self.issuer_path


def build_metadata(settings: Settings, *, oidc: bool) -> dict[str, Any]:
    issuer = settings.issuer
    doc: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
    }
    if oidc:
        doc["subject_types_supported"] = ["public"]
        doc["id_token_signing_alg_values_supported"] = ["RS256"]
        OpenIDProviderMetadata(doc).validate()
    else:
        AuthorizationServerMetadata(doc).validate()
    return doc


async def _form(request: Request) -> dict[str, list[str]]:
    body = await request.body()
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def build_app(settings: Settings, on_ready: Any = None) -> tuple[Starlette, Stats]:
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)
    stats = Stats()
    server = Server({c.client_id: c for c in settings.clients})
    server.register_token_generator(
        "default", AccessTokenGenerator(settings.issuer, key, settings.token_lifetime)
    )
    server.register_client_auth_method(
        PrivateKeyJWT.CLIENT_AUTH_METHOD,
        PrivateKeyJWT([f"{settings.issuer}/token", settings.issuer]),
    )
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(AuthorizationCodeGrant, [S256Only(required=True)])
    rfc8414 = build_metadata(settings, oidc=False)
    oidc = build_metadata(settings, oidc=True)

    def to_response(result: tuple[int, Any, list[tuple[str, str]]]) -> Response:
        status, body, headers = result
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=dict(headers))
        return Response(body or b"", status_code=status, headers=dict(headers))

    async def oauth_request(request: Request) -> StarletteOAuth2Request:
        query = parse_qs(request.url.query, keep_blank_values=True)
        form = await _form(request) if request.method == "POST" else {}
        url = str(request.url)
        return StarletteOAuth2Request(request.method, url, request.headers, query, form)

    async def token(request: Request) -> Response:
        req = await oauth_request(request)
        token_ctx = contextvars.copy_context()
        result = token_ctx.run(server.create_token_response, req)
        status = result[0]
        entry = {
            "grant_type": req.payload.data.get("grant_type"),
            "auth_method": req.auth_method,
            "client_id": req.client.client_id if req.client else None,
            "scope": req.payload.data.get("scope"),
            "resource": list(req.payload.datalist.get("resource", [])),
            "status": status,
            "error": result[1].get("error") if isinstance(result[1], dict) else None,
            "error_description": (
                result[1].get("error_description") if isinstance(result[1], dict) else None
            ),
            "client_assertion_type": req.payload.data.get("client_assertion_type"),
            "assertion": _assertion_summary(req.payload.datalist),
            "time": time.time(),
        }
        with stats.lock:
            stats.token_requests += 1
            stats.tokens_issued += status == 200
            stats.token_log.append(entry)
        return to_response(result)

    async def authorize(request: Request) -> Response:
        with stats.lock:
            stats.authorize_requests += 1
        req = await oauth_request(request)
        try:
            grant = server.get_consent_grant(req, end_user=User())
        except OAuth2Error as error:
            return to_response(server.handle_error_response(req, error))
        return to_response(
            server.create_authorization_response(req, grant_user=User(), grant=grant)
        )

    async def jwks(request: Request) -> Response:
        with stats.lock:
            stats.jwks_requests += 1
        return JSONResponse({"keys": [key.as_dict(private=False)]})

    def metadata(doc: dict[str, Any]) -> Any:
        async def handler(request: Request) -> Response:
            with stats.lock:
                stats.metadata_requests += 1
            return JSONResponse(doc, headers={"Cache-Control": "no-store"})

        return handler

    async def peer_stats(request: Request) -> Response:
        return JSONResponse(stats.as_dict())

    async def peer_reset(request: Request) -> Response:
        stats.reset()
        return JSONResponse(stats.as_dict())

    path = settings.issuer_path
    routes = [
        Route(f"{path}/token", token, methods=["POST"]),
        Route(f"{path}/authorize", authorize, methods=["GET", "POST"]),
        Route(f"{path}/jwks", jwks, methods=["GET"]),
        Route("/_peer/stats", peer_stats, methods=["GET"]),
        Route("/_peer/reset", peer_reset, methods=["POST"]),
    ]
    if "rfc8414" in settings.metadata:
        routes.append(Route(f"/.well-known/oauth-authorization-server{path}", metadata(rfc8414)))
    if "oidc" in settings.metadata:
        routes.append(Route(f"/.well-known/openid-configuration{path}", metadata(oidc)))
        if path:
            routes.append(Route(f"{path}/.well-known/openid-configuration", metadata(oidc)))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if on_ready is not None:
            on_ready()
        yield

    return Starlette(routes=routes, lifespan=lifespan), stats


def _parse_client(spec: str) -> Client:
    """JSON: ``{"client_id", "client_secret" (null: a public client), "scope", "auth_methods",
    "jwks" (a JWK set: a private_key_jwt client)}``."""
    try:
        raw = json.loads(spec)
        client_id, secret, scope = raw["client_id"], raw.get("client_secret"), raw["scope"]
    except (ValueError, KeyError, TypeError) as err:
        raise argparse.ArgumentTypeError(f"client: {err}") from err
    methods = tuple(raw.get("auth_methods") or ())
    if raw.get("jwks") is not None:
        return Client(
            client_id, None, scope, auth_methods=methods or ("private_key_jwt",), jwks=raw["jwks"]
        )
    if secret is None:
        return Client(client_id, None, scope, auth_methods=methods or ("none",))
    return Client(client_id, secret, scope, auth_methods=methods or Client.auth_methods)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--issuer-path", default="", help="e.g. /tenant1")
    parser.add_argument("--token-lifetime", type=int, default=3600, help="seconds")
    parser.add_argument(
        "--metadata", default="rfc8414,oidc", help="documents to serve: rfc8414, oidc (comma list)"
    )
    parser.add_argument(
        "--client",
        action="append",
        type=_parse_client,
        help="a JSON client object (repeatable)",
    )
    parser.add_argument(
        "--host-name", default="127.0.0.1", help="the host in the issuer URL (e.g. localhost)"
    )
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    args = parser.parse_args(argv)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    scheme = "https" if args.certfile else "http"
    path = args.issuer_path.rstrip("/")
    if path and not path.startswith("/"):
        path = "/" + path
    settings = Settings(
        base_url=f"{scheme}://{args.host_name}:{port}",
        issuer_path=path,
        token_lifetime=args.token_lifetime,
        metadata=tuple(m.strip() for m in args.metadata.split(",") if m.strip()),
        clients=tuple(args.client or [DEFAULT_CLIENT]),
    )

    def ready() -> None:
        print(json.dumps({"issuer": settings.issuer, "port": port}), flush=True)

    app, _ = build_app(settings, on_ready=ready)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        ssl_certfile=args.certfile,
        ssl_keyfile=args.keyfile,
        lifespan="on",
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
