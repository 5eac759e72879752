"""An MCP server from the official SDK (``mcp``) with its authorization support on, for tests.

``MCPServer(token_verifier=..., auth=AuthSettings(...)).streamable_http_app()`` served by uvicorn
on 127.0.0.1. The SDK does all the HTTP-level authorization; this file only supplies a
``TokenVerifier`` that checks the JWT access tokens of the authorization server peer
(``authorization_server.py``) against its JWKS: RS256 signature, ``typ`` ``at+jwt``, ``iss``,
``exp`` (no leeway), and, unless ``--no-audience-check``, ``aud`` equal to this server's URL (the
RFC 8707 ``resource`` the client asked for). A token failing any check is "no token" for the SDK.

What the SDK (mcp 2.3.0, ``mcp/server/auth/middleware/bearer_auth.py`` and ``routes.py``) emits,
with ``{base}`` = ``http://127.0.0.1:{port}`` and ``{path}`` = ``/mcp`` by default:

- No ``Authorization: Bearer`` header, or a token the verifier rejects (bad signature, other
  issuer, expired, other audience): **401**, ``Content-Type: application/json``, body
  ``{"error": "invalid_token", "error_description": "Authentication required"}`` and exactly::

      WWW-Authenticate: Bearer error="invalid_token", error_description="Authentication required",
          resource_metadata="{base}/.well-known/oauth-protected-resource{path}"

  (one line; ``error="invalid_token"`` is sent even when no token was presented, and there is
  no ``scope`` parameter and no ``realm``).
- A valid token without one of the required scopes (``--required-scope``, default ``mcp:read``):
  **403**, body ``{"error": "insufficient_scope", "error_description": "Required scope: <s>"}``
  and ``WWW-Authenticate: Bearer error="insufficient_scope", error_description="Required scope:
  <s>", resource_metadata="..."`` (again no ``scope`` parameter; the first missing scope is named
  in the description only).
- Protected-resource metadata (RFC 9728) only at the path-inserted well-known URL
  ``{base}/.well-known/oauth-protected-resource{path}`` (GET/OPTIONS, CORS, ``Cache-Control:
  public, max-age=3600``); the root form ``/.well-known/oauth-protected-resource`` is 404.
  Body: ``{"resource": "{base}{path}", "authorization_servers": ["<issuer>"],
  "scopes_supported": [<required scopes>], "bearer_methods_supported": ["header"]}`` (the SDK
  drops null fields).
- The SDK serves no authorization-server metadata itself in this mode (token verifier only):
  ``/.well-known/oauth-authorization-server`` on the MCP server is 404.

Tools: ``echo(text)`` and ``whoami()`` (the client id, scopes and audience the server saw).

``--public-initialize`` (with ``--stateless``): ``initialize`` and ``notifications/initialized``
are answered by the same server without authorization, every other request goes through the
SDK's authorization as above, as for a server that lets clients connect and wants a token only
for ``tools/list`` and ``tools/call``.

Run: ``python mcp_server.py --issuer http://127.0.0.1:PORT [--port 0] [--required-scope S]``.
Once bound it prints one JSON line: ``{"url": "{base}{path}", "port": ...}``; it serves shortly
after (poll the metadata URL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import urllib.request
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer


class JWKSTokenVerifier:
    """Validates RFC 9068 JWT access tokens against the authorization server's JWKS."""

    def __init__(self, issuer: str, jwks_url: str, audience: str | None) -> None:
        self.issuer = issuer
        self.jwks_url = jwks_url
        self.audience = audience
        self._keys: KeySet | None = None

    def _fetch_keys(self) -> KeySet:
        with urllib.request.urlopen(self.jwks_url, timeout=5) as resp:
            return KeySet.import_key_set(json.loads(resp.read()))

    async def _key_set(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            self._keys = await asyncio.to_thread(self._fetch_keys)
        return self._keys

    async def _decode(self, token: str) -> jwt.Token | None:
        for refresh in (False, True):  # once more with a fresh JWKS, for a rotated key
            try:
                return jwt.decode(token, await self._key_set(refresh), algorithms=["RS256"])
            except (JoseError, ValueError):
                continue
            except OSError:
                return None
        return None

    async def verify_token(self, token: str) -> AccessToken | None:
        decoded = await self._decode(token)
        if decoded is None:
            return None
        header = decoded.header
        if header.get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
            return None
        options: dict[str, Any] = {
            "iss": {"essential": True, "value": self.issuer},
            "exp": {"essential": True},
            "client_id": {"essential": True},
        }
        if self.audience is not None:
            options["aud"] = {"essential": True, "value": self.audience}
        try:
            jwt.JWTClaimsRegistry(**options).validate(decoded.claims)
        except JoseError:
            return None
        claims = decoded.claims
        aud = claims.get("aud")
        resource = aud if isinstance(aud, str) else None
        if isinstance(aud, list):
            resource = self.audience if self.audience in aud else (aud[0] if aud else None)
        return AccessToken(
            token=token,
            client_id=str(claims["client_id"]),
            scopes=str(claims.get("scope") or "").split(),
            expires_at=int(claims["exp"]),
            resource=resource,
            subject=claims.get("sub"),
            claims={k: claims[k] for k in ("iss", "jti", "iat") if k in claims},
        )


def build_server(
    *,
    issuer: str,
    jwks_url: str,
    resource_url: str,
    required_scopes: list[str],
    audience_check: bool,
    protected: bool = True,
) -> MCPServer[Any]:
    verifier = JWKSTokenVerifier(issuer, jwks_url, resource_url if audience_check else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auth = AuthSettings(
            issuer_url=issuer,  # type: ignore[arg-type]
            resource_server_url=resource_url,  # type: ignore[arg-type]
            required_scopes=required_scopes,
            validate_token_resource=audience_check,
        )
    server: MCPServer[Any] = (
        MCPServer(name="oauth-test-server", version="1.0.0", token_verifier=verifier, auth=auth)
        if protected
        else MCPServer(name="oauth-test-server", version="1.0.0")
    )

    @server.tool()
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @server.tool()
    def whoami() -> dict[str, Any]:
        """The client id, scopes and audience of the access token of this request."""
        token = get_access_token()
        if token is None:
            return {}
        return {"client_id": token.client_id, "scopes": token.scopes, "resource": token.resource}

    return server


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
PUBLIC_METHODS = ("initialize", "notifications/initialized")


def public_initialize(protected: Any, public: Any, path: str) -> ASGIApp:
    """Route the handshake of `path` to the unprotected app, everything else to the protected
    one (both stateless, so no session ties a request to either)."""

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        async with (
            protected.router.lifespan_context(protected),
            public.router.lifespan_context(public),
        ):
            yield

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            async with lifespan():
                await send({"type": "lifespan.startup.complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http" or scope["path"] != path or scope["method"] != "POST":
            await protected(scope, receive, send)
            return
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        try:
            method = json.loads(body).get("method")
        except (ValueError, AttributeError):
            method = None

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        target = public if method in PUBLIC_METHODS else protected
        await target(scope, replay, send)

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--issuer", required=True, help="the authorization server's issuer URL")
    parser.add_argument("--jwks-url", help="default: {issuer}/jwks")
    parser.add_argument("--path", default="/mcp")
    parser.add_argument("--required-scope", action="append", help="repeatable; default mcp:read")
    parser.add_argument("--no-audience-check", action="store_true")
    parser.add_argument("--json-response", action="store_true")
    parser.add_argument("--stateless", action="store_true")
    parser.add_argument(
        "--host-name", default="127.0.0.1", help="the host in its URLs (it binds 127.0.0.1)"
    )
    parser.add_argument("--public-initialize", action="store_true", help="needs --stateless")
    args = parser.parse_args(argv)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    url = f"http://{args.host_name}:{port}{args.path}"
    server = build_server(
        issuer=args.issuer,
        jwks_url=args.jwks_url or f"{args.issuer.rstrip('/')}/jwks",
        resource_url=url,
        required_scopes=args.required_scope or ["mcp:read"],
        audience_check=not args.no_audience_check,
    )
    app = server.streamable_http_app(
        streamable_http_path=args.path,
        json_response=args.json_response,
        stateless_http=args.stateless,
        host="127.0.0.1",
    )
    if args.public_initialize:
        public = build_server(
            issuer=args.issuer,
            jwks_url=args.jwks_url or f"{args.issuer.rstrip('/')}/jwks",
            resource_url=url,
            required_scopes=args.required_scope or ["mcp:read"],
            audience_check=not args.no_audience_check,
            protected=False,
        ).streamable_http_app(
            streamable_http_path=args.path,
            json_response=args.json_response,
            stateless_http=True,
            host="127.0.0.1",
        )
        app = public_initialize(app, public, args.path)  # type: ignore[assignment]
    print(json.dumps({"url": url, "port": port}), flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
