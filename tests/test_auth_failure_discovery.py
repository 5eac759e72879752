"""Discovery after an auth failure starts from the challenge the failed request received.

Two servers answer `initialize` without a token and want one only for `tools/list` and
`tools/call`: the official SDK's authorization with the Authlib authorization server
(tests/peers/oauth, `public_initialize`), and an SDK server whose 401 names `resource_metadata`
at a URL no well-known lookup finds, and `scope="mcp:tools"` (tests/peers/upstreams.py, kind
`listauth`). A client that started over with a fresh unauthenticated `initialize` would be let in
and conclude the server needs no authorization; the MCP specification says the client MUST use
the challenge it got.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ExporterFactory
from tests.peers.litellm_proxy import OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, Upstream, free_port
from tests.peers.oauth import DEFAULT_CLIENT, AuthorizationServerPeer, OAuthPeerFactory
from tests.test_probe_mcp import failure

pytestmark = pytest.mark.timeout(120)

CONFIG = """
modules:
  plain:
    prober: mcp
    mcp: {transport: streamable_http}
  disc:
    prober: mcp
    mcp: {transport: streamable_http, discovery_on_auth_failure: true}
    discovery:
      url_policy: {allow_http_loopback: true}
"""


@pytest.fixture(scope="module")
def listauth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    work: Path = tmp_path_factory.mktemp("listauth")
    upstream = Upstream(
        name="listauth",
        kind="listauth",
        port=free_port(),
        events_path=work / "events.jsonl",
        log_path=work / "server.log",
        extra_args=("--client-id", OAUTH_CLIENT_ID, "--client-secret", OAUTH_CLIENT_SECRET),
    )
    upstream.start()
    try:
        yield upstream
    finally:
        upstream.stop()


def step(m: dict[str, float], name: str) -> float | None:
    return m.get(f'probe_oauth_step_success{{step="{name}"}}')


async def test_discovery_uses_the_tools_list_challenge(
    make_exporter: ExporterFactory, listauth: Upstream
) -> None:
    """initialize passes, tools/list gets 401: the probe's failure is that 401 with and without
    discovery, and discovery finds the metadata through the 401's resource_metadata."""
    exporter = await make_exporter(CONFIG)
    plain = await exporter.probe(listauth.url, "plain")
    since = len(listauth.events("http"))
    m = await exporter.probe(listauth.url, "disc")
    assert failure(plain) == failure(m) == ("client_to_upstream", "tools_list", "auth_required")
    assert m["probe_http_status_code"] == plain["probe_http_status_code"] == 401
    for name in ("www_authenticate", "protected_resource", "authorization_server"):
        assert step(m, name) == 1, name
    assert m['probe_hop_success{hop="client_to_auth_server"}'] == 1
    # No second, unauthenticated initialize: the probe's own requests and the metadata only.
    requests = [(e["method"], e["path"], e["rpc_method"]) for e in listauth.events("http")[since:]]
    initializes = [r for r in requests if r[2] == "initialize"]
    assert len(initializes) == 1
    assert ("GET", "/meta/protected-resource", None) in requests
    _, text = await exporter.get("/probe", target=listauth.url, module="disc", debug="true")
    assert "the authorization metadata is healthy" in text
    assert "does not require authorization" not in text
    assert "mcp:tools" in text


async def test_sdk_server_that_wants_a_token_only_for_tools_list(
    make_exporter: ExporterFactory,
    oauth_peers: OAuthPeerFactory,
    oauth_authorization_server: AuthorizationServerPeer,
) -> None:
    """The SDK's own 401 for tools/list (initialize let through) leads discovery to the SDK's
    protected-resource metadata and Authlib's metadata; with a client-credentials token the same
    server lists its tools."""
    server = oauth_peers.mcp_server(oauth_authorization_server.issuer, public_initialize=True)
    oauth2 = {
        "client_id": DEFAULT_CLIENT.client_id,
        "client_secret": DEFAULT_CLIENT.client_secret,
        "token_url": oauth_authorization_server.token_endpoint,
        "scopes": ["mcp:read"],
    }
    config = (
        CONFIG
        + f"""
  token:
    prober: mcp
    mcp:
      transport: streamable_http
      oauth2:
        client_id: {oauth2["client_id"]}
        client_secret: {oauth2["client_secret"]}
        token_url: {oauth2["token_url"]}
        scopes: [mcp:read]
"""
    )
    exporter = await make_exporter(config)
    plain = await exporter.probe(server.url, "plain")
    m = await exporter.probe(server.url, "disc")
    assert failure(plain) == failure(m) == ("client_to_upstream", "tools_list", "auth_required")
    assert m['probe_mcp_step_success{step="tools_list"}'] == 0
    for name in ("www_authenticate", "protected_resource", "authorization_server"):
        assert step(m, name) == 1, name
    assert m['probe_oauth_resource_match{match="exact"}'] == 1
    _, text = await exporter.get("/probe", target=server.url, module="disc", debug="true")
    assert "the authorization metadata is healthy" in text
    assert "does not require authorization" not in text
    ok = await exporter.probe(server.url, "token")
    assert ok["probe_success"] == 1, failure(ok)
