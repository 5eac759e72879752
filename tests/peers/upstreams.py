"""Small MCP upstream servers (official `mcp` SDK) that the LiteLLM test peer proxies to.

Run one per process so a test can stop and restart a single upstream:

    python tests/peers/upstreams.py --kind bearer --port 8123 --events /tmp/ev.jsonl --token T

Every kind serves the same tools at `/mcp` (streamable HTTP, stateful, SSE responses) and differs
only in the credential it demands:

- `open`         no authentication.
- `bearer`       `Authorization: Bearer <--token>`.
- `headers`      a header `--header-name: --header-value` (LiteLLM forwards `x-mcp-{alias}-{name}`).
- `m2m`          a bearer token issued by this process's own OAuth 2.0 authorization server
                 (client credentials grant at `/oauth/token`, RFC 8414 metadata, RFC 9728
                 protected-resource metadata); client id/secret from `--client-id/--client-secret`.
- `authcode`     the same authorization server with an authorization endpoint; no token is ever
                 issued to LiteLLM, so every MCP request gets 401 with a challenge.
- `passthrough`  any bearer token (it records what arrived), or only `--token` when given; 401
                 with a challenge otherwise.
- `listauth`     like `m2m`, but only `tools/list` and `tools/call` need the token: `initialize`
                 is answered without one, as some servers do. Its protected-resource metadata is
                 only at the challenge's `resource_metadata` (`/meta/protected-resource`), not at a
                 well-known URL, and the challenge names `scope="mcp:tools"`.

Tools: `echo(text)` returns `text`; `fail(message)` raises (the result has `isError: true`);
`crash()` kills the process mid-call; `http500()` is answered with HTTP 500 by the transport
wrapper before the SDK sees it. Every HTTP request and every tool call is appended as one JSON line
to `--events`, so a test can prove exactly which calls (and which credentials) reached the upstream.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from mcp.server.mcpserver import MCPServer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KINDS = ("open", "bearer", "headers", "m2m", "authcode", "passthrough", "listauth")
# Request headers worth recording: the credentials LiteLLM may forward, and MCP session data.
RECORDED_HEADERS = (
    "authorization",
    "x-api-key",
    "x-litellm-api-key",
    "mcp-session-id",
    "mcp-protocol-version",
    "accept",
    "content-type",
    "user-agent",
)


class EventLog:
    """Appends one JSON object per line; safe for the server's threads."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()

    def write(self, event: dict[str, Any]) -> None:
        line = json.dumps({"time": time.time(), "pid": os.getpid(), **event}, sort_keys=True)
        with self._lock, Path(self._path).open("a", encoding="utf-8") as f:
            f.write(line + "\n")


def build_mcp(name: str, events: EventLog) -> MCPServer:
    """The MCP server every kind shares: a few tools whose calls are recorded."""
    server: MCPServer = MCPServer(name=f"upstream-{name}", version="1.0.0")

    @server.tool(description="Return the given text unchanged.")
    def echo(text: str) -> str:
        events.write({"type": "tool_call", "tool": "echo", "arguments": {"text": text}})
        return text

    @server.tool(description="Always fail with the given message.")
    def fail(message: str) -> str:
        events.write({"type": "tool_call", "tool": "fail", "arguments": {"message": message}})
        raise ValueError(message)

    @server.tool(description="Terminate the server process while the call is in flight.")
    def crash() -> str:
        events.write({"type": "tool_call", "tool": "crash", "arguments": {}})
        os._exit(3)

    @server.tool(description="Answered with HTTP 500 by the transport, never reaches this body.")
    def http500() -> str:
        return "unreachable"

    return server


class AuthorizationServer:
    """A minimal OAuth 2.0 authorization server: metadata and the client credentials grant."""

    def __init__(self, issuer: str, client_id: str, client_secret: str, events: EventLog) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.events = events
        self.issued: dict[str, float] = {}

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/oauth/authorize",
            "token_endpoint": f"{self.issuer}/oauth/token",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["mcp"],
        }

    def token(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        client_id, client_secret, method = form.get("client_id"), form.get("client_secret"), "post"
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            decoded = base64.b64decode(auth[6:]).decode("utf-8", "replace")
            client_id, _, client_secret = decoded.partition(":")
            method = "basic"
        self.events.write(
            {
                "type": "token_request",
                "grant_type": form.get("grant_type"),
                "client_auth": method,
                "client_id": client_id,
                "scope": form.get("scope"),
                "resource": form.get("resource"),
            }
        )
        if client_id != self.client_id or client_secret != self.client_secret:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        token = "at-" + secrets.token_urlsafe(24)
        self.issued[token] = time.time() + 3600
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "mcp",
        }

    def valid(self, token: str) -> bool:
        return self.issued.get(token, 0) > time.time()


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    chunks: list[bytes] = []
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


async def _send_json(
    send: Send, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


def wrap(app: ASGIApp, args: argparse.Namespace, events: EventLog, base_url: str) -> ASGIApp:
    """Records every request, serves the OAuth endpoints and enforces the kind's credential."""
    asrv = None
    if args.kind in ("m2m", "authcode", "listauth"):
        asrv = AuthorizationServer(base_url, args.client_id, args.client_secret, events)
    resource_metadata_url = f"{base_url}/.well-known/oauth-protected-resource/mcp"
    metadata_paths: tuple[str, ...] = (
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    )
    challenge_value = f'Bearer resource_metadata="{resource_metadata_url}"'
    if args.kind == "listauth":
        # Only the challenge leads to the metadata: a client that ignores it cannot find it.
        metadata_paths = ("/meta/protected-resource",)
        challenge_value = (
            f'Bearer resource_metadata="{base_url}/meta/protected-resource", scope="mcp:tools"'
        )

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        path, method = scope["path"], scope["method"]
        body, messages = await _read_body(receive)
        rpc_method = tool = None
        if body:
            try:
                parsed = json.loads(body)
                rpc_method = parsed.get("method")
                tool = (
                    (parsed.get("params") or {}).get("name") if rpc_method == "tools/call" else None
                )
            except (ValueError, AttributeError):
                pass
        events.write(
            {
                "type": "http",
                "method": method,
                "path": path,
                "rpc_method": rpc_method,
                "tool": tool,
                "headers": {h: headers[h] for h in RECORDED_HEADERS if h in headers},
            }
        )

        if path in metadata_paths:
            if args.kind in ("m2m", "authcode", "passthrough", "listauth"):
                issuer = base_url if asrv else args.issuer or base_url
                await _send_json(
                    send,
                    200,
                    {
                        "resource": f"{base_url}/mcp",
                        "authorization_servers": [issuer],
                        "bearer_methods_supported": ["header"],
                        "scopes_supported": ["mcp"],
                    },
                )
            else:
                await _send_json(send, 404, {"error": "not_found"})
            return
        if asrv is not None and path in (
            "/.well-known/oauth-authorization-server",
            "/.well-known/openid-configuration",
        ):
            await _send_json(send, 200, asrv.metadata())
            return
        if asrv is not None and path == "/oauth/token" and method == "POST":
            status, token_body = asrv.token(headers, body)
            await _send_json(send, status, token_body, {"cache-control": "no-store"})
            return
        if asrv is not None and path == "/oauth/authorize":
            await _send_json(send, 400, {"error": "interactive_login_not_supported"})
            return

        authorization = headers.get("authorization", "")
        bearer = authorization[7:] if authorization.lower().startswith("bearer ") else ""
        denied = False
        if args.kind == "bearer":
            denied = bearer != args.token
        elif args.kind == "headers":
            denied = headers.get(args.header_name.lower()) != args.header_value
        elif args.kind in ("m2m", "authcode"):
            denied = asrv is None or not asrv.valid(bearer)
        elif args.kind == "listauth":
            denied = rpc_method in ("tools/list", "tools/call") and (
                asrv is None or not asrv.valid(bearer)
            )
        elif args.kind == "passthrough":
            denied = not bearer or bool(args.token and bearer != args.token)
        if denied:
            events.write({"type": "denied", "path": path, "rpc_method": rpc_method})
            answer = None
            if args.kind != "headers":
                # RFC 6750 section 3.1: a token that was sent and refused is invalid_token.
                value = challenge_value + (', error="invalid_token"' if bearer else "")
                answer = {"www-authenticate": value}
            await _send_json(send, 401, {"error": "invalid_token"}, answer)
            return
        if tool == "http500":
            await _send_json(send, 500, {"error": "deliberate failure"})
            return

        replay = list(messages)

        async def replay_receive() -> Message:
            if replay:
                return replay.pop(0)
            return await receive()

        await app(scope, replay_receive, send)

    return wrapped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=KINDS, required=True)
    parser.add_argument("--name", default=None, help="server name reported in serverInfo")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--events", required=True, help="JSON-lines file to append events to")
    parser.add_argument("--token", default="")
    parser.add_argument("--header-name", default="x-api-key")
    parser.add_argument("--header-value", default="")
    parser.add_argument("--client-id", default="mcp-exporter-test")
    parser.add_argument("--client-secret", default="")
    parser.add_argument("--issuer", default="")
    args = parser.parse_args()

    events = EventLog(args.events)
    base_url = f"http://127.0.0.1:{args.port}"
    mcp_app = build_mcp(args.name or args.kind, events).streamable_http_app(host="127.0.0.1")
    app = wrap(mcp_app, args, events, base_url)
    events.write({"type": "started", "kind": args.kind, "port": args.port})
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
