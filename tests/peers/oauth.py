"""OAuth test peers: a real authorization server, a real MCP server behind it, and a fake.

- ``oauth_authorization_server`` (session): :class:`AuthorizationServerPeer`, the Authlib server
  of ``tests/peers/oauth/authorization_server.py`` on 127.0.0.1 (token lifetime 3600 s).
- ``oauth_mcp_server`` (session): :class:`OAuthMCPServerPeer`, the MCP SDK server of
  ``tests/peers/oauth/mcp_server.py`` accepting that server's tokens (required scope
  ``mcp:read``, audience = its own URL, so clients must send ``resource=<url>``).
- ``oauth_peers`` (session): :class:`OAuthPeerFactory` for fresh servers with other settings (a
  short token lifetime to test refresh, an issuer with a path, only one metadata document, ...);
  everything it starts stops at the end of the session.
- ``oauth_fake`` (function): :class:`FakeMetadataServer` with no routes, for metadata no real
  server serves; :meth:`FakeMetadataServer.case` sets up one of :data:`FAKE_CASES`.

Every server binds 127.0.0.1 on a free port. The servers run as child processes of the test
process, so they serve whatever event loop (or none) a test runs. To use the fixtures, a test
module declares ``pytest_plugins = ("tests.peers.oauth",)`` or the project's conftest lists this
module in its ``pytest_plugins``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

HERE = Path(__file__).resolve().parent / "oauth"
AS_SCRIPT = HERE / "authorization_server.py"
MCP_SCRIPT = HERE / "mcp_server.py"
START_TIMEOUT = 20.0


# --- processes -----------------------------------------------------------------------------------


class PeerProcess:
    """A child process that prints one JSON line once bound; its stderr goes to a log file."""

    def __init__(self, argv: Sequence[str], name: str) -> None:
        self.name = name
        self.log = Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".log")[1])
        self._log_file = self.log.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, *argv],
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        self.info = self._read_ready_line()

    def _read_ready_line(self) -> dict[str, Any]:
        result: list[bytes] = []
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        reader = threading.Thread(target=lambda: result.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT)
        if not result or not result[0]:
            self.stop()
            raise RuntimeError(f"{self.name} did not start: {self.log.read_text()[-2000:]}")
        info: dict[str, Any] = json.loads(result[0])
        return info

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log_file.close()


def _wait_http_ok(url: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer 200 within {timeout} s")
        time.sleep(0.05)


def _get_json(url: str, *, method: str = "GET") -> Any:
    req = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


# --- the real servers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OAuthClient:
    """A client registered at the authorization server (confidential unless ``secret`` is None;
    a ``private_key_jwt`` client has ``jwks``, its public keys, instead)."""

    client_id: str
    client_secret: str | None
    scope: str
    auth_methods: tuple[str, ...] = ("client_secret_basic", "client_secret_post")
    jwks: Mapping[str, Any] | None = None

    def spec(self) -> str:
        return json.dumps(
            {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "scope": self.scope,
                "auth_methods": list(self.auth_methods),
                "jwks": None if self.jwks is None else dict(self.jwks),
            }
        )


@dataclass(frozen=True)
class SigningKey:
    """A private key made for this test session (never stored in the repository)."""

    kid: str
    algorithm: str
    private_pem: str = field(repr=False)
    public_jwk: Mapping[str, Any]


def _signing_key(kid: str, algorithm: str) -> SigningKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from joserfc.jwk import ECKey, RSAKey

    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if algorithm == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_type = RSAKey if algorithm == "RS256" else ECKey
    jwk = key_type.import_key(public).as_dict(private=False)
    return SigningKey(kid, algorithm, pem, {**jwk, "kid": kid, "alg": algorithm, "use": "sig"})


# The private_key_jwt client's keys: one RSA and one EC P-256 key, told apart by kid.
RSA_KEY = _signing_key("probe-rsa-1", "RS256")
EC_KEY = _signing_key("probe-ec-1", "ES256")
# A key of the right type that the authorization server does not know.
UNKNOWN_EC_KEY = _signing_key("probe-ec-unknown", "ES256")


DEFAULT_CLIENT = OAuthClient("probe-client", "probe-secret", "mcp:read mcp:write")
# Authenticates with HTTP Basic only; a client_secret_post request gets invalid_client.
BASIC_ONLY_CLIENT = OAuthClient(
    "basic-client", "basic-secret", "mcp:read", ("client_secret_basic",)
)
# Authenticates with form parameters only.
POST_ONLY_CLIENT = OAuthClient("post-client", "post-secret", "mcp:read", ("client_secret_post",))
# Registered with scope mcp:write only: its tokens get 403 insufficient_scope from the MCP server.
NO_READ_CLIENT = OAuthClient("write-only-client", "write-only-secret", "mcp:write")
# Authenticates with private_key_jwt only (RFC 7523), with either of its registered keys.
JWT_CLIENT = OAuthClient(
    "jwt-client",
    None,
    "mcp:read",
    ("private_key_jwt",),
    jwks={"keys": [dict(RSA_KEY.public_jwk), dict(EC_KEY.public_jwk)]},
)
CLIENTS = (DEFAULT_CLIENT, BASIC_ONLY_CLIENT, POST_ONLY_CLIENT, NO_READ_CLIENT, JWT_CLIENT)


@dataclass(frozen=True)
class TokenResponse:
    status: int
    body: dict[str, Any]

    @property
    def access_token(self) -> str:
        return str(self.body["access_token"])

    def claims(self) -> dict[str, Any]:
        """The JWT payload, unverified (tests look at ``aud``, ``scope``, ``exp``)."""
        payload = self.access_token.split(".")[1]
        decoded: dict[str, Any] = json.loads(
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        )
        return decoded


@dataclass
class AuthorizationServerPeer:
    """The Authlib authorization server. URLs are absolute; ``issuer`` has no trailing slash."""

    issuer: str
    base_url: str
    issuer_path: str
    token_lifetime: int
    metadata_documents: tuple[str, ...]
    clients: tuple[OAuthClient, ...]
    process: PeerProcess = field(repr=False)

    @property
    def client(self) -> OAuthClient:
        return self.clients[0]

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.issuer}/authorize"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks"

    @property
    def rfc8414_url(self) -> str:
        """RFC 8414 metadata (path-inserted for an issuer with a path)."""
        return f"{self.base_url}/.well-known/oauth-authorization-server{self.issuer_path}"

    @property
    def oidc_url(self) -> str:
        """OpenID Connect discovery, path-inserted form."""
        return f"{self.base_url}/.well-known/openid-configuration{self.issuer_path}"

    @property
    def oidc_appended_url(self) -> str:
        """OpenID Connect discovery, path-appended form (served only for an issuer with a path)."""
        return f"{self.issuer}/.well-known/openid-configuration"

    def stats(self) -> dict[str, Any]:
        """Counters: ``token_requests`` (every POST to the token endpoint), ``tokens_issued``,
        ``metadata_requests``, ``jwks_requests``, ``authorize_requests`` and ``token_log`` (one
        dict per token request: grant_type, auth_method, client_id, scope, resource, status,
        error, time; never a secret)."""
        stats: dict[str, Any] = _get_json(f"{self.base_url}/_peer/stats")
        return stats

    @property
    def token_requests(self) -> int:
        return int(self.stats()["token_requests"])

    @property
    def tokens_issued(self) -> int:
        return int(self.stats()["tokens_issued"])

    def token_log(self) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = self.stats()["token_log"]
        return log

    def reset_stats(self) -> None:
        _get_json(f"{self.base_url}/_peer/reset", method="POST")

    def fetch_token(
        self,
        *,
        client: OAuthClient | None = None,
        auth_method: str = "client_secret_basic",
        scope: str | None = None,
        resource: str | Sequence[str] | None = None,
        secret: str | None = None,
    ) -> TokenResponse:
        """A client-credentials token request, as a client would send it (for test set-up)."""
        client = client or self.client
        secret = client.client_secret if secret is None else secret
        form: list[tuple[str, str]] = [("grant_type", "client_credentials")]
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        if auth_method == "client_secret_basic":
            raw = f"{urllib.parse.quote(client.client_id)}:{urllib.parse.quote(secret or '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(raw.encode()).decode()
        else:
            form += [("client_id", client.client_id), ("client_secret", secret or "")]
        if scope is not None:
            form.append(("scope", scope))
        if isinstance(resource, str):
            form.append(("resource", resource))
        elif resource is not None:
            form += [("resource", r) for r in resource]
        body = urllib.parse.urlencode(form).encode()
        req = urllib.request.Request(self.token_endpoint, data=body, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return TokenResponse(resp.status, json.loads(resp.read()))
        except urllib.error.HTTPError as err:
            return TokenResponse(err.code, json.loads(err.read() or b"{}"))

    def stop(self) -> None:
        self.process.stop()


@dataclass
class OAuthMCPServerPeer:
    """The MCP SDK server with authorization on, trusting ``issuer``'s tokens."""

    url: str
    base_url: str
    path: str
    issuer: str
    required_scopes: tuple[str, ...]
    audience_check: bool
    process: PeerProcess = field(repr=False)

    @property
    def resource_metadata_url(self) -> str:
        """Where the SDK serves RFC 9728 metadata (and what its WWW-Authenticate points to)."""
        return f"{self.base_url}/.well-known/oauth-protected-resource{self.path}"

    @property
    def root_resource_metadata_url(self) -> str:
        """The root well-known form; the SDK does not serve it (404)."""
        return f"{self.base_url}/.well-known/oauth-protected-resource"

    def stop(self) -> None:
        self.process.stop()


def start_authorization_server(
    *,
    token_lifetime: int = 3600,
    issuer_path: str = "",
    metadata: Sequence[str] = ("rfc8414", "oidc"),
    clients: Sequence[OAuthClient] = CLIENTS,
    host_name: str = "127.0.0.1",
) -> AuthorizationServerPeer:
    argv = [str(AS_SCRIPT), "--port", "0", "--token-lifetime", str(token_lifetime)]
    argv += ["--host-name", host_name]
    argv += ["--metadata", ",".join(metadata)]
    if issuer_path:
        argv += ["--issuer-path", issuer_path]
    for client in clients:
        argv += ["--client", client.spec()]
    process = PeerProcess(argv, "oauth-as")
    issuer = str(process.info["issuer"])
    base_url = f"http://{host_name}:{process.info['port']}"
    peer = AuthorizationServerPeer(
        issuer=issuer,
        base_url=base_url,
        issuer_path=issuer[len(base_url) :],
        token_lifetime=token_lifetime,
        metadata_documents=tuple(metadata),
        clients=tuple(clients),
        process=process,
    )
    _wait_http_ok(f"http://127.0.0.1:{process.info['port']}/_peer/stats")
    return peer


def start_mcp_server(
    issuer: str,
    *,
    required_scopes: Sequence[str] = ("mcp:read",),
    audience_check: bool = True,
    path: str = "/mcp",
    json_response: bool = False,
    stateless: bool = False,
    host_name: str = "127.0.0.1",
    public_initialize: bool = False,
) -> OAuthMCPServerPeer:
    argv = [str(MCP_SCRIPT), "--port", "0", "--issuer", issuer, "--path", path]
    argv += ["--host-name", host_name]
    for scope in required_scopes:
        argv += ["--required-scope", scope]
    if not audience_check:
        argv.append("--no-audience-check")
    if json_response:
        argv.append("--json-response")
    if stateless or public_initialize:
        argv.append("--stateless")
    if public_initialize:
        argv.append("--public-initialize")
    process = PeerProcess(argv, "oauth-mcp")
    base_url = f"http://{host_name}:{process.info['port']}"
    peer = OAuthMCPServerPeer(
        url=str(process.info["url"]),
        base_url=base_url,
        path=path,
        issuer=issuer,
        required_scopes=tuple(required_scopes),
        audience_check=audience_check,
        process=process,
    )
    _wait_http_ok(peer.resource_metadata_url)
    return peer


class OAuthPeerFactory:
    """Starts fresh peers on demand; stops them all in :meth:`close`."""

    def __init__(self) -> None:
        self._peers: list[AuthorizationServerPeer | OAuthMCPServerPeer] = []

    def authorization_server(self, **kwargs: Any) -> AuthorizationServerPeer:
        """Keyword arguments of :func:`start_authorization_server` (``token_lifetime=2``, ...)."""
        peer = start_authorization_server(**kwargs)
        self._peers.append(peer)
        return peer

    def mcp_server(self, issuer: str, **kwargs: Any) -> OAuthMCPServerPeer:
        """Keyword arguments of :func:`start_mcp_server`."""
        peer = start_mcp_server(issuer, **kwargs)
        self._peers.append(peer)
        return peer

    def pair(
        self, *, token_lifetime: int = 3600, **mcp_kwargs: Any
    ) -> tuple[AuthorizationServerPeer, OAuthMCPServerPeer]:
        """A fresh authorization server and an MCP server trusting it."""
        auth = self.authorization_server(token_lifetime=token_lifetime)
        return auth, self.mcp_server(auth.issuer, **mcp_kwargs)

    def close(self) -> None:
        for peer in reversed(self._peers):
            with contextlib.suppress(Exception):
                peer.stop()
        self._peers.clear()


# --- the fake ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeResponse:
    """One configured answer. A Mapping or list body is sent as JSON."""

    status: int = 200
    body: bytes | str | Mapping[str, Any] | list[Any] | None = None
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def form(self) -> dict[str, list[str]]:
        """A form-encoded body, parsed."""
        return urllib.parse.parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)


@dataclass(frozen=True)
class FakeCase:
    """A discovery chain on the fake with one defect.

    ``expected_reason`` and ``expected_hop`` are the failure DESIGN.md's reasons and hops suggest
    for the defect (``None`` for the ``ok`` case); the discovery prober's tests own the final
    word. ``doc`` names the document that is wrong: ``prm`` (served by the MCP side, hop
    ``client_to_upstream``) or ``as`` (hop ``client_to_auth_server``).
    """

    name: str
    mcp_url: str
    resource_metadata_url: str
    issuer: str
    doc: str | None
    expected_reason: str | None
    expected_hop: str | None
    description: str
    # A URL the client must never fetch (the target of a disallowed redirect), if any.
    forbidden_url: str | None = None


FAKE_CASES: dict[str, str] = {
    "ok": "valid chain: 401 + WWW-Authenticate, PRM, RFC 8414 metadata with S256",
    "prm_missing_resource": "PRM without resource",
    "prm_no_authorization_servers": "PRM with an empty authorization_servers",
    "prm_resource_mismatch": "PRM resource is another URL",
    "prm_non_json": "PRM answered as text/html",
    "prm_unreachable": "every PRM URL answers 404",
    "prm_redirect_disallowed_host": "PRM URL redirects to plain http on a host that is not "
    "loopback (http://metadata.example.invalid:<port>/...)",
    "as_missing_fields": "AS metadata without token_endpoint and response_types_supported",
    "as_issuer_mismatch": "AS metadata issuer differs from the URL it was found under",
    "as_no_pkce": "AS metadata without code_challenge_methods_supported",
    "as_no_s256": 'AS metadata with code_challenge_methods_supported ["plain"]',
    "as_http_endpoints": "AS endpoints are plain http on a non-loopback host",
    "as_non_json": "AS metadata is not JSON",
    "as_unreachable": "every AS metadata URL answers 404",
    "as_redirect_loop": "every AS metadata URL redirects in a loop",
}

_SUGGESTED: dict[str, tuple[str | None, str | None, str | None]] = {
    # Each case by name: the document at fault, the failure reason and the hop.
    "ok": (None, None, None),
    "prm_missing_resource": ("prm", "metadata_invalid", "client_to_upstream"),
    "prm_no_authorization_servers": ("prm", "metadata_invalid", "client_to_upstream"),
    "prm_resource_mismatch": ("prm", "metadata_invalid", "client_to_upstream"),
    "prm_non_json": ("prm", "metadata_invalid", "client_to_upstream"),
    "prm_unreachable": ("prm", "metadata_unreachable", "client_to_upstream"),
    "prm_redirect_disallowed_host": ("prm", "target_not_allowed", "client_to_upstream"),
    "as_missing_fields": ("as", "metadata_invalid", "client_to_auth_server"),
    "as_issuer_mismatch": ("as", "metadata_invalid", "client_to_auth_server"),
    "as_no_pkce": ("as", "pkce_unsupported", "client_to_auth_server"),
    "as_no_s256": ("as", "pkce_unsupported", "client_to_auth_server"),
    "as_http_endpoints": ("as", "metadata_invalid", "client_to_auth_server"),
    "as_non_json": ("as", "metadata_invalid", "client_to_auth_server"),
    "as_unreachable": ("as", "metadata_unreachable", "client_to_auth_server"),
    "as_redirect_loop": ("as", "metadata_unreachable", "client_to_auth_server"),
}


class FakeMetadataServer:
    """An aiohttp app on 127.0.0.1 (own thread and loop) answering per configured path.

    Unconfigured paths get 404. ``set`` and ``redirect`` may be called while it runs; every
    request is recorded in ``requests`` (method, path, query, headers).
    """

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], FakeResponse] = {}
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        if not started.wait(START_TIMEOUT):
            raise RuntimeError("fake metadata server did not start")
        self.base_url = f"http://127.0.0.1:{self.port}"

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port: int = self._runner.addresses[0][1]
        started.set()
        self._loop.run_forever()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    request.method, request.path, request.query_string, dict(request.headers), body
                )
            )
            resp = self._routes.get((request.method, request.path)) or self._routes.get(
                ("*", request.path)
            )
        if resp is None:
            return web.json_response({"error": "not_found"}, status=404)
        if resp.delay:
            await asyncio.sleep(resp.delay)
        headers = dict(resp.headers)
        answer = resp.body
        if isinstance(answer, Mapping | list):
            data = json.dumps(answer).encode()
            content_type = resp.content_type or "application/json"
        elif isinstance(answer, str):
            data = answer.encode()
            content_type = resp.content_type or "text/plain; charset=utf-8"
        else:
            data = answer or b""
            content_type = resp.content_type or "application/octet-stream"
        if data or resp.content_type:
            headers.setdefault("Content-Type", content_type)
        return web.Response(status=resp.status, body=data, headers=headers)

    def url(self, path: str) -> str:
        return self.base_url + path

    def set(self, path: str, response: FakeResponse, method: str = "*") -> None:
        with self._lock:
            self._routes[(method.upper(), path)] = response

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.set(path, FakeResponse(status=status, headers={"Location": location}))

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path == path)

    def clear(self) -> None:
        with self._lock:
            self._routes.clear()
            self.requests.clear()

    def case(self, name: str, *, mcp_path: str = "/mcp") -> FakeCase:
        """Configure the whole discovery chain with the defect ``name`` (see FAKE_CASES)."""
        if name not in FAKE_CASES:
            raise KeyError(f"unknown fake case {name!r}; known: {', '.join(FAKE_CASES)}")
        self.clear()
        base = self.base_url
        mcp_url = base + mcp_path
        prm_path = f"/.well-known/oauth-protected-resource{mcp_path}"
        prm_url = base + prm_path
        issuer = base
        as_path = "/.well-known/oauth-authorization-server"
        challenge = f'Bearer resource_metadata="{prm_url}", scope="mcp:read"'
        self.set(
            mcp_path,
            FakeResponse(
                401,
                {"error": "invalid_token", "error_description": "Authentication required"},
                headers={"WWW-Authenticate": challenge},
            ),
        )
        prm: dict[str, Any] = {
            "resource": mcp_url,
            "authorization_servers": [issuer],
            "scopes_supported": ["mcp:read"],
            "bearer_methods_supported": ["header"],
        }
        asm: dict[str, Any] = {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "jwks_uri": f"{issuer}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["mcp:read"],
        }
        forbidden: str | None = None
        prm_resp: FakeResponse | None = None
        as_resp: FakeResponse | None = None
        if name == "prm_missing_resource":
            del prm["resource"]
        elif name == "prm_no_authorization_servers":
            prm["authorization_servers"] = []
        elif name == "prm_resource_mismatch":
            prm["resource"] = base + "/other"
        elif name == "prm_non_json":
            prm_resp = FakeResponse(200, "<html><body>Sign in</body></html>", "text/html")
        elif name == "prm_unreachable":
            prm_resp = FakeResponse(404, {"error": "not_found"})
        elif name == "prm_redirect_disallowed_host":
            # Plain http to a host that is not loopback: refused before any DNS query (were it
            # followed, the probe would fail at dns instead, as .invalid never resolves).
            forbidden = f"http://metadata.example.invalid:{self.port}/elsewhere{prm_path}"
            self.set(f"/elsewhere{prm_path}", FakeResponse(200, prm))
            prm_resp = FakeResponse(302, headers={"Location": forbidden})
        elif name == "as_missing_fields":
            del asm["token_endpoint"], asm["response_types_supported"]
        elif name == "as_issuer_mismatch":
            asm["issuer"] = f"http://127.0.0.1:{self.port}/tenant-other"
        elif name == "as_no_pkce":
            del asm["code_challenge_methods_supported"]
        elif name == "as_no_s256":
            asm["code_challenge_methods_supported"] = ["plain"]
        elif name == "as_http_endpoints":
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                asm[key] = "http://auth.example.invalid/" + key.removesuffix("_endpoint")
        elif name == "as_non_json":
            as_resp = FakeResponse(200, "issuer: nope\n", "text/plain")
        elif name == "as_unreachable":
            as_resp = FakeResponse(404, {"error": "not_found"})
        elif name == "as_redirect_loop":
            for path in (as_path, "/.well-known/openid-configuration"):
                self.redirect(path, base + "/loop" + path)
                self.redirect("/loop" + path, base + path)
        self.set(prm_path, prm_resp or FakeResponse(200, prm))
        if name != "as_redirect_loop":
            self.set(as_path, as_resp or FakeResponse(200, asm))
            if as_resp is not None:
                self.set("/.well-known/openid-configuration", as_resp)
        doc, reason, hop = _SUGGESTED[name]
        return FakeCase(
            name=name,
            mcp_url=mcp_url,
            resource_metadata_url=prm_url,
            issuer=issuer,
            doc=doc,
            expected_reason=reason,
            expected_hop=hop,
            description=FAKE_CASES[name],
            forbidden_url=forbidden,
        )

    def close(self) -> None:
        async def _cleanup() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(_cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def oauth_peers() -> Iterator[OAuthPeerFactory]:
    factory = OAuthPeerFactory()
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def oauth_authorization_server(oauth_peers: OAuthPeerFactory) -> AuthorizationServerPeer:
    return oauth_peers.authorization_server()


@pytest.fixture(scope="session")
def oauth_mcp_server(
    oauth_peers: OAuthPeerFactory, oauth_authorization_server: AuthorizationServerPeer
) -> OAuthMCPServerPeer:
    return oauth_peers.mcp_server(oauth_authorization_server.issuer)


@pytest.fixture(scope="session")
def _oauth_fake_server() -> Iterator[FakeMetadataServer]:
    fake = FakeMetadataServer()
    yield fake
    fake.close()


@pytest.fixture
def oauth_fake(_oauth_fake_server: FakeMetadataServer) -> FakeMetadataServer:
    _oauth_fake_server.clear()
    return _oauth_fake_server


__all__ = [
    "BASIC_ONLY_CLIENT",
    "CLIENTS",
    "DEFAULT_CLIENT",
    "FAKE_CASES",
    "NO_READ_CLIENT",
    "POST_ONLY_CLIENT",
    "AuthorizationServerPeer",
    "FakeCase",
    "FakeMetadataServer",
    "FakeResponse",
    "OAuthClient",
    "OAuthMCPServerPeer",
    "OAuthPeerFactory",
    "RecordedRequest",
    "TokenResponse",
    "oauth_authorization_server",
    "oauth_fake",
    "oauth_mcp_server",
    "oauth_peers",
    "start_authorization_server",
    "start_mcp_server",
]
