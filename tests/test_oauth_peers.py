"""The OAuth peers do what the authorization tests rely on."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import httpx2
import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from joserfc import jwt
from joserfc.jwk import KeySet
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from exporter.probers.www_authenticate import bearer_challenge, parse_www_authenticate

# The peers module is a pytest plugin of this module (below); import it rewritten, as plugins are.
pytest.register_assert_rewrite("tests.peers.oauth")

from tests.peers.oauth import (  # noqa: E402
    BASIC_ONLY_CLIENT,
    FAKE_CASES,
    NO_READ_CLIENT,
    POST_ONLY_CLIENT,
    AuthorizationServerPeer,
    FakeMetadataServer,
    OAuthMCPServerPeer,
    OAuthPeerFactory,
)

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "peer-test", "version": "0"},
    },
}


def http(
    url: str, *, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, list[str]], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    hdrs = {"Accept": "application/json, text/event-stream", **(headers or {})}
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, msg, payload = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        status, msg, payload = err.code, err.headers, err.read()
    collected: dict[str, list[str]] = {}
    for key in set(msg.keys()):
        collected[key.lower()] = msg.get_all(key) or []
    return status, collected, payload


def initialize_status(
    mcp: OAuthMCPServerPeer, token: str | None
) -> tuple[int, dict[str, list[str]]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, hdrs, _ = http(mcp.url, body=INITIALIZE, headers=headers)
    return status, hdrs


# --- authorization server ------------------------------------------------------------------------


def test_metadata_documents(oauth_authorization_server: AuthorizationServerPeer) -> None:
    auth = oauth_authorization_server
    for url in (auth.rfc8414_url, auth.oidc_url):
        status, _, body = http(url)
        assert status == 200
        doc = json.loads(body)
        AuthorizationServerMetadata(doc).validate()
        assert doc["issuer"] == auth.issuer
        assert doc["token_endpoint"] == auth.token_endpoint
        assert doc["jwks_uri"] == auth.jwks_uri
        assert "S256" in doc["code_challenge_methods_supported"]
        assert {"client_secret_basic", "client_secret_post"} <= set(
            doc["token_endpoint_auth_methods_supported"]
        )
        assert "client_credentials" in doc["grant_types_supported"]
    assert "registration_endpoint" not in doc


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_token(
    oauth_authorization_server: AuthorizationServerPeer, auth_method: str
) -> None:
    auth = oauth_authorization_server
    resource = "http://127.0.0.1:9/mcp"
    resp = auth.fetch_token(auth_method=auth_method, scope="mcp:read", resource=resource)
    assert resp.status == 200, resp.body
    assert resp.body["token_type"] == "Bearer"
    assert resp.body["expires_in"] == auth.token_lifetime
    assert resp.body["scope"] == "mcp:read"
    _, _, jwks = http(auth.jwks_uri)
    token = jwt.decode(resp.access_token, KeySet.import_key_set(json.loads(jwks)))
    assert token.header["typ"] == "at+jwt"
    assert token.claims["iss"] == auth.issuer
    assert token.claims["aud"] == resource
    assert token.claims["client_id"] == auth.client.client_id
    assert token.claims["exp"] - token.claims["iat"] == auth.token_lifetime
    last = auth.token_log()[-1]
    assert last["auth_method"] == auth_method
    assert last["resource"] == [resource]


def test_token_without_resource_or_scope(
    oauth_authorization_server: AuthorizationServerPeer,
) -> None:
    resp = oauth_authorization_server.fetch_token()
    assert resp.status == 200
    claims = resp.claims()
    assert claims["aud"] == oauth_authorization_server.client.client_id
    assert claims["scope"] == oauth_authorization_server.client.scope


def test_token_errors(oauth_authorization_server: AuthorizationServerPeer) -> None:
    auth = oauth_authorization_server
    bad = auth.fetch_token(secret="wrong")
    assert (bad.status, bad.body["error"]) == (401, "invalid_client")
    bad = auth.fetch_token(client=BASIC_ONLY_CLIENT, auth_method="client_secret_post")
    assert (bad.status, bad.body["error"]) == (401, "invalid_client")
    bad = auth.fetch_token(client=POST_ONLY_CLIENT, auth_method="client_secret_basic")
    assert (bad.status, bad.body["error"]) == (401, "invalid_client")
    assert auth.fetch_token(client=POST_ONLY_CLIENT, auth_method="client_secret_post").status == 200
    bad = auth.fetch_token(scope="mcp:admin")
    assert (bad.status, bad.body["error"]) == (400, "invalid_scope")
    bad = auth.fetch_token(resource="http://127.0.0.1/mcp#frag")
    assert (bad.status, bad.body["error"]) == (400, "invalid_target")


def test_token_requests_are_counted(oauth_peers: OAuthPeerFactory) -> None:
    auth = oauth_peers.authorization_server(token_lifetime=2)
    assert auth.token_requests == 0
    for _ in range(3):
        assert auth.fetch_token().status == 200
    auth.fetch_token(secret="wrong")
    stats = auth.stats()
    assert (stats["token_requests"], stats["tokens_issued"]) == (4, 3)
    auth.reset_stats()
    assert auth.token_requests == 0


def test_issuer_with_path(oauth_peers: OAuthPeerFactory) -> None:
    auth = oauth_peers.authorization_server(issuer_path="/tenant1", metadata=("oidc",))
    assert auth.issuer.endswith("/tenant1")
    assert http(auth.rfc8414_url)[0] == 404
    for url in (auth.oidc_url, auth.oidc_appended_url):
        status, _, body = http(url)
        assert status == 200
        assert json.loads(body)["issuer"] == auth.issuer
    assert auth.fetch_token().status == 200


# --- MCP server ----------------------------------------------------------------------------------


def test_mcp_401_challenge_and_resource_metadata(oauth_mcp_server: OAuthMCPServerPeer) -> None:
    mcp = oauth_mcp_server
    status, headers = initialize_status(mcp, None)
    assert status == 401
    challenge = bearer_challenge(parse_www_authenticate(headers["www-authenticate"]))
    assert challenge is not None
    assert challenge.resource_metadata == mcp.resource_metadata_url
    assert challenge.error == "invalid_token"
    status, _, body = http(mcp.resource_metadata_url)
    assert status == 200
    assert json.loads(body) == {
        "resource": mcp.url,
        "authorization_servers": [mcp.issuer],
        "scopes_supported": ["mcp:read"],
        "bearer_methods_supported": ["header"],
    }
    assert http(mcp.root_resource_metadata_url)[0] == 404


async def test_mcp_initialize_with_token(
    oauth_authorization_server: AuthorizationServerPeer, oauth_mcp_server: OAuthMCPServerPeer
) -> None:
    token = oauth_authorization_server.fetch_token(resource=oauth_mcp_server.url).access_token
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as client,
        streamable_http_client(oauth_mcp_server.url, http_client=client) as streams,
        ClientSession(streams[0], streams[1]) as session,
    ):
        result = await session.initialize()
        assert result.server_info.name == "oauth-test-server"
        called = await session.call_tool("whoami", {})
        assert called.structured_content is not None
        assert called.structured_content["resource"] == oauth_mcp_server.url


def test_mcp_rejects_bad_tokens(
    oauth_authorization_server: AuthorizationServerPeer, oauth_mcp_server: OAuthMCPServerPeer
) -> None:
    auth, mcp = oauth_authorization_server, oauth_mcp_server
    assert initialize_status(mcp, "not-a-jwt")[0] == 401
    other_audience = auth.fetch_token(resource="http://127.0.0.1:9/other").access_token
    assert initialize_status(mcp, other_audience)[0] == 401
    no_audience = auth.fetch_token().access_token
    assert initialize_status(mcp, no_audience)[0] == 401
    write_only = auth.fetch_token(client=NO_READ_CLIENT, resource=mcp.url).access_token
    status, headers = initialize_status(mcp, write_only)
    assert status == 403
    challenge = bearer_challenge(parse_www_authenticate(headers["www-authenticate"]))
    assert challenge is not None
    assert challenge.error == "insufficient_scope"
    assert challenge.resource_metadata == mcp.resource_metadata_url


def test_expired_token_is_rejected(oauth_peers: OAuthPeerFactory) -> None:
    """A token past its lifetime is refused by the resource server."""
    # Two seconds: expiry is kept in whole seconds, so a one-second token issued late in a second
    # could already be expired at its first use.
    auth, mcp = oauth_peers.pair(token_lifetime=2)
    token = auth.fetch_token(resource=mcp.url).access_token
    assert initialize_status(mcp, token)[0] == 200
    time.sleep(3.1)
    assert initialize_status(mcp, token)[0] == 401
    assert auth.token_requests == 1


# --- fake ----------------------------------------------------------------------------------------


def test_fake_ok_chain(oauth_fake: FakeMetadataServer) -> None:
    case = oauth_fake.case("ok")
    status, headers, _ = http(case.mcp_url, body=INITIALIZE)
    assert status == 401
    challenge = bearer_challenge(parse_www_authenticate(headers["www-authenticate"]))
    assert challenge is not None
    assert challenge.resource_metadata == case.resource_metadata_url
    status, _, body = http(case.resource_metadata_url)
    assert (status, json.loads(body)["authorization_servers"]) == (200, [case.issuer])
    status, _, body = http(case.issuer + "/.well-known/oauth-authorization-server")
    AuthorizationServerMetadata(json.loads(body)).validate()
    assert oauth_fake.hits("/mcp") == 1


def _raw_get(url: str) -> tuple[int, bytes]:
    """GET without following redirects."""
    opener = urllib.request.build_opener(_NoRedirect())
    try:
        with opener.open(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.mark.parametrize("name", sorted(set(FAKE_CASES) - {"ok"}))
def test_fake_cases_break_one_document(oauth_fake: FakeMetadataServer, name: str) -> None:
    ok = oauth_fake.case("ok")
    as_url = ok.issuer + "/.well-known/oauth-authorization-server"
    good_prm, good_as = _raw_get(ok.resource_metadata_url), _raw_get(as_url)
    case = oauth_fake.case(name)
    assert case.expected_reason is not None
    hops = {"prm": "client_to_upstream", "as": "client_to_auth_server"}
    assert case.doc is not None
    assert case.expected_hop == hops[case.doc]
    prm, asm = _raw_get(case.resource_metadata_url), _raw_get(as_url)
    if case.doc == "prm":
        assert (prm != good_prm, asm) == (True, good_as)
    else:
        assert (prm, asm != good_as) == (good_prm, True)


def test_fake_redirects(oauth_fake: FakeMetadataServer) -> None:
    case = oauth_fake.case("prm_redirect_disallowed_host")
    assert case.forbidden_url is not None
    assert case.forbidden_url.startswith("http://metadata.example.invalid:")
    req = urllib.request.Request(case.resource_metadata_url)
    opener = urllib.request.build_opener(_NoRedirect())
    with pytest.raises(urllib.error.HTTPError) as info:
        opener.open(req, timeout=5)
    assert info.value.code == 302
    assert info.value.headers["Location"] == case.forbidden_url
    oauth_fake.case("as_redirect_loop")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(case.issuer + "/.well-known/oauth-authorization-server", timeout=5)
    assert info.value.code == 302  # urllib gives up on the loop


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
