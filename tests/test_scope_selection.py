"""Which scope a client-credentials token request asks for when the module names none: the MCP
specification's scope selection, from what discovery saw (real SDK server and Authlib server,
and the fake for challenges no real server sends)."""

from __future__ import annotations

from tests.conftest import ExporterFactory
from tests.peers.oauth import (
    DEFAULT_CLIENT,
    AuthorizationServerPeer,
    FakeMetadataServer,
    FakeResponse,
    OAuthMCPServerPeer,
)
from tests.test_probe_mcp import failure


def module(name: str, *, token_url: str | None = None, scopes: str | None = None) -> str:
    options = [
        f"client_id: {DEFAULT_CLIENT.client_id}",
        f"client_secret: {DEFAULT_CLIENT.client_secret}",
    ]
    if token_url is not None:
        options.append(f"token_url: {token_url}")
    if scopes is not None:
        options.append(f"scopes: {scopes}")
    discovery = ""
    if token_url is None:
        discovery = "\n    discovery: {url_policy: {allow_http_loopback: true}}"
    return f"""
  {name}:
    prober: mcp
    mcp:
      oauth2: {{{", ".join(options)}}}{discovery}
"""


def last_scope(auth: AuthorizationServerPeer) -> object:
    entries = [e for e in auth.token_log() if e["client_id"] == DEFAULT_CLIENT.client_id]
    return entries[-1]["scope"]


async def test_unset_scopes_follow_the_specification(
    make_exporter: ExporterFactory,
    oauth_authorization_server: AuthorizationServerPeer,
    oauth_mcp_server: OAuthMCPServerPeer,
) -> None:
    """Discovered: the server's advertised scope is requested; with a token_url nothing is
    discovered and no scope is sent; an explicit [] sends none either."""
    auth = oauth_authorization_server
    exp = await make_exporter(
        "modules:"
        + module("discovered")
        + module("fixed_url", token_url=auth.token_endpoint)
        + module("none", scopes="[]")
        + module("explicit", scopes="[mcp:write, mcp:read]")
    )
    m = await exp.probe(oauth_mcp_server.url, "discovered")
    assert m["probe_success"] == 1, failure(m)
    assert last_scope(auth) == "mcp:read"
    for name, scope in (("fixed_url", None), ("none", None), ("explicit", "mcp:write mcp:read")):
        m = await exp.probe(oauth_mcp_server.url, name)
        assert m["probe_success"] == 1, (name, failure(m))
        assert last_scope(auth) == scope, name


async def test_challenge_scope_wins_and_bad_scopes_are_not_sent(
    make_exporter: ExporterFactory, oauth_fake: FakeMetadataServer
) -> None:
    """The 401 challenge's scope comes before scopes_supported; a challenged scope that is not
    a scope list (a quote, a backslash) is not sent, scopes_supported is used."""
    case = oauth_fake.case("ok")
    oauth_fake.set("/token", FakeResponse(400, {"error": "invalid_client"}), "POST")
    exp = await make_exporter("modules:" + module("discovered"))
    for challenged, expected in (
        ("mcp:tools  mcp:read", "mcp:tools mcp:read"),
        ('mcp:"x"', "mcp:read"),
        ("mcp:\\read", "mcp:read"),
    ):
        quoted = challenged.replace("\\", "\\\\").replace('"', '\\"')
        header = f'Bearer resource_metadata="{case.resource_metadata_url}", scope="{quoted}"'
        oauth_fake.set("/mcp", FakeResponse(401, {}, headers={"WWW-Authenticate": header}))
        oauth_fake.requests.clear()
        m = await exp.probe(case.mcp_url, "discovered")
        assert failure(m) == ("client_to_auth_server", "token", "token_fetch_failed")
        posts = [r for r in oauth_fake.requests if r.path == "/token"]
        assert len(posts) == 1
        assert posts[0].form.get("scope") == [expected], challenged
