"""Auth in the mcp prober: 401/403 classified against the real SDK server, and OAuth2 client
credentials from the real Authlib server, with its token cache."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from urllib.parse import quote

from tests.conftest import ExporterFactory
from tests.exporter_process import StartExporter
from tests.peers.oauth import (
    BASIC_ONLY_CLIENT,
    DEFAULT_CLIENT,
    NO_READ_CLIENT,
    POST_ONLY_CLIENT,
    AuthorizationServerPeer,
    FakeMetadataServer,
    FakeResponse,
    OAuthClient,
    OAuthMCPServerPeer,
    OAuthPeerFactory,
)
from tests.test_probe_mcp import failure


def cc_module(
    name: str,
    client: OAuthClient,
    token_url: str | None,
    *,
    method: str = "client_secret_basic",
    secret: str | None = None,
    scopes: str = "[mcp:read]",
    extra: str = "",
) -> str:
    url = f"token_url: {token_url}, " if token_url else ""
    discovery = (
        "\n    discovery: {url_policy: {allow_http_loopback: true}}" if token_url is None else ""
    )
    return f"""
  {name}:
    prober: mcp
    mcp:
      oauth2: {{client_id: {client.client_id}, client_secret: {secret or client.client_secret},
               {url}scopes: {scopes}, auth_method: {method}{extra}}}{discovery}
"""


def token_step(m: dict[str, float]) -> float | None:
    return m.get('probe_oauth_step_success{step="token"}')


async def test_basic_and_post_client_authentication(
    make_exporter: ExporterFactory,
    oauth_authorization_server: AuthorizationServerPeer,
    oauth_mcp_server: OAuthMCPServerPeer,
) -> None:
    """Both client authentication methods get a token the MCP server accepts, with resource."""
    auth = oauth_authorization_server
    exp = await make_exporter(
        "modules:"
        + cc_module("basic", BASIC_ONLY_CLIENT, auth.token_endpoint)
        + cc_module("post", POST_ONLY_CLIENT, auth.token_endpoint, method="client_secret_post")
    )
    for module, client, method in (
        ("basic", BASIC_ONLY_CLIENT, "client_secret_basic"),
        ("post", POST_ONLY_CLIENT, "client_secret_post"),
    ):
        m = await exp.probe(oauth_mcp_server.url, module)
        assert m["probe_success"] == 1, failure(m)
        assert token_step(m) == 1
        assert m['probe_oauth_step_duration_seconds{step="token"}'] > 0
        assert m["probe_oauth_token_from_cache"] == 0
        assert m['probe_hop_success{hop="client_to_auth_server"}'] == 1
        entry = [e for e in auth.token_log() if e["client_id"] == client.client_id][-1]
        assert entry["auth_method"] == method
        assert entry["resource"] == [oauth_mcp_server.url]
        assert entry["scope"] == "mcp:read"
        assert entry["status"] == 200


async def test_wrong_method_and_wrong_secret_are_token_fetch_failed(
    make_exporter: ExporterFactory,
    oauth_authorization_server: AuthorizationServerPeer,
    oauth_mcp_server: OAuthMCPServerPeer,
) -> None:
    """A refused token request is token_fetch_failed at the auth-server hop, error labelled."""
    auth = oauth_authorization_server
    exp = await make_exporter(
        "modules:"
        + cc_module("wrong_secret", DEFAULT_CLIENT, auth.token_endpoint, secret="not-the-secret")
        + cc_module(
            "wrong_method", BASIC_ONLY_CLIENT, auth.token_endpoint, method="client_secret_post"
        )
        + cc_module("bad_scope", DEFAULT_CLIENT, auth.token_endpoint, scopes="[admin]")
    )
    for module, error in (
        ("wrong_secret", "invalid_client"),
        ("wrong_method", "invalid_client"),
        ("bad_scope", "invalid_scope"),
    ):
        m = await exp.probe(oauth_mcp_server.url, module)
        assert failure(m) == ("client_to_auth_server", "token", "token_fetch_failed"), module
        assert m[f'probe_oauth_token_error_info{{error="{error}"}}'] == 1, module
        assert token_step(m) == 0
        assert m['probe_hop_success{hop="client_to_auth_server"}'] == 0


async def test_error_codes_outside_rfc_6749_become_other(
    make_exporter: ExporterFactory, oauth_fake: FakeMetadataServer
) -> None:
    """The error label is bounded: unknown codes are `other`, no code at all is `none`."""
    oauth_fake.set("/token", FakeResponse(400, {"error": "tenant_locked_" + "x" * 50}))
    oauth_fake.set("/token2", FakeResponse(500, "<html>oops</html>", "text/html"))
    exp = await make_exporter(
        "modules:"
        + cc_module("a", DEFAULT_CLIENT, oauth_fake.url("/token"))
        + cc_module("b", DEFAULT_CLIENT, oauth_fake.url("/token2"))
    )
    m = await exp.probe(oauth_fake.url("/mcp"), "a")
    assert m['probe_oauth_token_error_info{error="other"}'] == 1
    m = await exp.probe(oauth_fake.url("/mcp"), "b")
    assert m['probe_oauth_token_error_info{error="none"}'] == 1
    assert failure(m) == ("client_to_auth_server", "token", "token_fetch_failed")


async def test_token_cache_and_refresh(
    make_exporter: ExporterFactory, oauth_peers: OAuthPeerFactory
) -> None:
    """N scrapes within a token's lifetime make one token request; after expiry, one more."""
    auth, mcp = oauth_peers.pair(token_lifetime=3)
    exp = await make_exporter("modules:" + cc_module("cc", DEFAULT_CLIENT, auth.token_endpoint))
    for i in range(4):
        m = await exp.probe(mcp.url, "cc")
        assert m["probe_success"] == 1, failure(m)
        assert m["probe_oauth_token_from_cache"] == (0 if i == 0 else 1)
        assert token_step(m) == 1
    assert auth.token_requests == 1
    await asyncio.sleep(3.1)
    m = await exp.probe(mcp.url, "cc")
    assert m["probe_success"] == 1, failure(m)
    assert m["probe_oauth_token_from_cache"] == 0
    assert auth.token_requests == 2


async def test_concurrent_probes_share_one_token_request(
    make_exporter: ExporterFactory, oauth_peers: OAuthPeerFactory
) -> None:
    """Probes of one target running at once wait for one token request."""
    auth, mcp = oauth_peers.pair()
    exp = await make_exporter("modules:" + cc_module("cc", DEFAULT_CLIENT, auth.token_endpoint))
    results = await asyncio.gather(*(exp.probe(mcp.url, "cc") for _ in range(5)))
    assert all(m["probe_success"] == 1 for m in results)
    assert auth.token_requests == 1


async def test_reload_empties_the_cache(
    make_exporter: ExporterFactory, oauth_peers: OAuthPeerFactory
) -> None:
    """A config reload starts every module with an empty token cache."""
    auth, mcp = oauth_peers.pair()
    exp = await make_exporter("modules:" + cc_module("cc", DEFAULT_CLIENT, auth.token_endpoint))
    await exp.probe(mcp.url, "cc")
    await exp.probe(mcp.url, "cc")
    assert auth.token_requests == 1
    async with exp.client.post(f"{exp.base}/-/reload") as resp:
        assert resp.status == 200
    m = await exp.probe(mcp.url, "cc")
    assert m["probe_oauth_token_from_cache"] == 0
    assert auth.token_requests == 2


async def test_discovered_token_endpoint(
    make_exporter: ExporterFactory,
    oauth_authorization_server: AuthorizationServerPeer,
    oauth_mcp_server: OAuthMCPServerPeer,
) -> None:
    """Without token_url the token endpoint comes from discovery, which is reported too."""
    exp = await make_exporter("modules:" + cc_module("cc", DEFAULT_CLIENT, None))
    m = await exp.probe(oauth_mcp_server.url, "cc")
    assert m["probe_success"] == 1, failure(m)
    for name in ("www_authenticate", "protected_resource", "authorization_server", "token"):
        assert m[f'probe_oauth_step_success{{step="{name}"}}'] == 1
    m = await exp.probe(oauth_mcp_server.url, "cc")
    assert m["probe_oauth_token_from_cache"] == 1
    assert 'probe_oauth_step_success{step="protected_resource"}' not in m


async def test_401_403_classification(
    make_exporter: ExporterFactory,
    oauth_authorization_server: AuthorizationServerPeer,
    oauth_mcp_server: OAuthMCPServerPeer,
    oauth_fake: FakeMetadataServer,
) -> None:
    """No token: auth_required; a bad or other-audience token: token_rejected; a token without
    the scope: insufficient_scope (scope named in debug output); a plain 403: forbidden."""
    auth = oauth_authorization_server
    other_audience = auth.fetch_token(resource="http://127.0.0.1:1/other").access_token
    no_read = auth.fetch_token(client=NO_READ_CLIENT, resource=oauth_mcp_server.url).access_token
    exp = await make_exporter(f"""
modules:
  none: {{prober: mcp}}
  garbage: {{prober: mcp, mcp: {{bearer_token: not-a-token}}}}
  audience: {{prober: mcp, mcp: {{bearer_token: {other_audience}}}}}
  no_read: {{prober: mcp, mcp: {{bearer_token: {no_read}}}}}
""")
    url = oauth_mcp_server.url
    m = await exp.probe(url, "none")
    assert failure(m) == ("client_to_upstream", "initialize", "auth_required")
    for module in ("garbage", "audience"):
        m = await exp.probe(url, module)
        assert failure(m) == ("client_to_upstream", "initialize", "token_rejected"), module
    m = await exp.probe(url, "no_read")
    assert failure(m) == ("client_to_upstream", "initialize", "insufficient_scope")
    _, text = await exp.get("/probe", target=url, module="no_read", debug="true")
    assert "Required scope: mcp:read" in text
    oauth_fake.set(
        "/scoped",
        FakeResponse(
            403,
            {},
            headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="files:read"'},
        ),
    )
    _, text = await exp.get("/probe", target=oauth_fake.url("/scoped"), module="none", debug="true")
    assert 'reason="insufficient_scope"' in text
    assert "files:read" in text
    oauth_fake.set("/forbidden", FakeResponse(403, {"error": "nope"}))
    m = await exp.probe(oauth_fake.url("/forbidden"), "none")
    assert failure(m) == ("client_to_upstream", "initialize", "forbidden")


async def test_rejected_cached_token_is_forgotten(
    make_exporter: ExporterFactory, oauth_peers: OAuthPeerFactory
) -> None:
    """When the server rejects a cached token, the next probe requests a new one."""
    auth, mcp = oauth_peers.pair()
    # Tokens for another audience: the server rejects every one of them.
    exp = await make_exporter(
        "modules:"
        + cc_module(
            "cc", DEFAULT_CLIENT, auth.token_endpoint, extra=", resource: http://127.0.0.1:1/x"
        )
    )
    for _ in range(2):
        m = await exp.probe(mcp.url, "cc")
        assert failure(m) == ("client_to_upstream", "initialize", "token_rejected")
        assert m["probe_oauth_token_from_cache"] == 0
    assert auth.token_requests == 2


def test_no_client_secret_or_token_on_any_surface(
    tmp_path: Path,
    oauth_authorization_server: AuthorizationServerPeer,
    oauth_mcp_server: OAuthMCPServerPeer,
    start_exporter: StartExporter,
) -> None:
    """The client secret and the tokens appear in no log, metric, /config or debug output."""
    auth = oauth_authorization_server
    secret_file = tmp_path / "secret"
    secret_file.write_text(DEFAULT_CLIENT.client_secret or "")
    config = tmp_path / "config.yml"
    config.write_text(
        "modules:"
        + cc_module("inline", DEFAULT_CLIENT, auth.token_endpoint, method="client_secret_post")
        + cc_module("fromfile", DEFAULT_CLIENT, None).replace(
            f"client_secret: {DEFAULT_CLIENT.client_secret}",
            f"client_secret: {{file: {secret_file}}}",
        )
        + cc_module("refused", DEFAULT_CLIENT, auth.token_endpoint, secret="refused-Secret-8c1")
    )
    process = start_exporter(f"--config.file={config}")
    outputs = []
    try:
        for module in ("inline", "fromfile", "refused"):
            q = f"target={quote(oauth_mcp_server.url, safe='')}&module={module}"
            outputs.append(process.get(f"/probe?{q}")[1])
            outputs.append(process.get(f"/probe?{q}&debug=true")[1])
        for path in ("/", "/metrics", "/config", "/logs?id=0", "/logs?id=1", "/logs?id=4"):
            outputs.append(process.get(path)[1])
    finally:
        outputs.append(process.stop())
    everything = "\n".join(outputs)
    assert "probe_success 1" in everything
    assert 'reason="token_fetch_failed"' in everything
    pair = f"{DEFAULT_CLIENT.client_id}:{DEFAULT_CLIENT.client_secret}"
    for secret in (
        DEFAULT_CLIENT.client_secret or "",
        "refused-Secret-8c1",
        base64.b64encode(pair.encode()).decode(),
        "eyJ",  # every access token the Authlib server issues is a JWT
    ):
        assert secret not in everything
