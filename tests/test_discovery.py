"""The discovery prober against a real MCP SDK server and Authlib authorization server, and the
fake metadata server for each defect no real server produces."""

from __future__ import annotations

import pytest

from tests.conftest import Exporter, ExporterFactory
from tests.peers.mcp_servers import Peer
from tests.peers.oauth import (
    FAKE_CASES,
    AuthorizationServerPeer,
    FakeMetadataServer,
    FakeResponse,
    OAuthMCPServerPeer,
    OAuthPeerFactory,
)
from tests.test_probe_mcp import failure

CONFIG = """
modules:
  loopback:
    prober: discovery
    discovery:
      url_policy: {allow_http_loopback: true}
  exact:
    prober: discovery
    discovery:
      resource_match: exact
      url_policy: {allow_http_loopback: true}
  only_example:
    prober: discovery
    discovery:
      url_policy: {allow_http_loopback: true, allowed_hosts: [auth.example.com]}
  one_fetch:
    prober: discovery
    discovery:
      url_policy: {allow_http_loopback: true, max_fetches: 1}
  legacy:
    prober: discovery
    discovery:
      default_endpoints_fallback: true
      url_policy: {allow_http_loopback: true}
  header_required:
    prober: discovery
    discovery:
      require_resource_metadata_header: true
      url_policy: {allow_http_loopback: true}
  registration_required:
    prober: discovery
    discovery:
      require_registration: true
      url_policy: {allow_http_loopback: true}
  mcp_then_discovery:
    prober: mcp
    mcp: {discovery_on_auth_failure: true}
    discovery:
      url_policy: {allow_http_loopback: true}
  mcp_then_header_required:
    prober: mcp
    mcp: {discovery_on_auth_failure: true}
    discovery:
      require_resource_metadata_header: true
      url_policy: {allow_http_loopback: true}
"""
STEPS = ("www_authenticate", "protected_resource", "authorization_server")


@pytest.fixture
async def exp(make_exporter: ExporterFactory) -> Exporter:
    return await make_exporter(CONFIG)


def step(m: dict[str, float], name: str) -> float | None:
    return m.get(f'probe_oauth_step_success{{step="{name}"}}')


async def test_real_pair_passes_every_check(
    exp: Exporter,
    oauth_authorization_server: AuthorizationServerPeer,
    oauth_mcp_server: OAuthMCPServerPeer,
) -> None:
    """The SDK server's 401, its RFC 9728 metadata and Authlib's RFC 8414 metadata pass."""
    m = await exp.probe(oauth_mcp_server.url, "loopback")
    assert m["probe_success"] == 1, failure(m)
    for name in STEPS:
        assert step(m, name) == 1
        assert m[f'probe_oauth_step_duration_seconds{{step="{name}"}}'] > 0
    assert m['probe_oauth_resource_match{match="exact"}'] == 1
    assert m['probe_oauth_resource_match{match="prefix"}'] == 0
    assert m["probe_oauth_pkce_s256_supported"] == 1
    assert m['probe_oauth_registration_supported{method="cimd"}'] == 0
    assert m['probe_oauth_registration_supported{method="dcr"}'] == 0
    assert m['probe_hop_success{hop="client_to_upstream"}'] == 1
    assert m['probe_hop_success{hop="client_to_auth_server"}'] == 1
    assert m["probe_http_status_code"] == 401
    assert not any(k.startswith("probe_mcp_step_success") for k in m)
    assert 'probe_oauth_step_success{step="token"}' not in m


async def test_default_module_refuses_plain_http_metadata(
    exporter: Exporter, oauth_mcp_server: OAuthMCPServerPeer
) -> None:
    """The built-in discovery module requires https for URLs taken from responses."""
    m = await exporter.probe(oauth_mcp_server.url, "discovery")
    assert failure(m) == ("client_to_upstream", "protected_resource", "target_not_allowed")
    assert step(m, "www_authenticate") == 1
    assert step(m, "protected_resource") == 0
    assert step(m, "authorization_server") == 0


async def test_localhost_names_are_loopback_with_allow_http_loopback(
    make_exporter: ExporterFactory, oauth_peers: OAuthPeerFactory
) -> None:
    """With allow_http_loopback, http URLs on localhost (RFC 6761), as every local development
    setup and the conformance suite write them, are fetched; without it, the refusal says
    which option would allow them."""
    auth = oauth_peers.authorization_server(host_name="localhost")
    mcp = oauth_peers.mcp_server(auth.issuer, host_name="localhost")
    assert auth.issuer.startswith("http://localhost:")
    assert mcp.url.startswith("http://localhost:")
    exp = await make_exporter(CONFIG)
    m = await exp.probe(mcp.url, "loopback")
    assert m["probe_success"] == 1, failure(m)
    for name in STEPS:
        assert step(m, name) == 1
    assert m['probe_oauth_resource_match{match="exact"}'] == 1
    assert auth.stats()["metadata_requests"] >= 1

    default = await make_exporter()
    m = await default.probe(mcp.url, "discovery")
    assert failure(m) == ("client_to_upstream", "protected_resource", "target_not_allowed")
    _, text = await default.get("/probe", target=mcp.url, module="discovery", debug="true")
    assert "needs url_policy.allow_http_loopback: true" in text


async def test_plain_http_elsewhere_is_refused_with_the_reason(
    exp: Exporter, oauth_fake: FakeMetadataServer
) -> None:
    """Plain http to a host that is neither a loopback address nor a localhost name is refused
    even with allow_http_loopback, and the refusal says what would be allowed."""
    case = oauth_fake.case("prm_redirect_disallowed_host")
    _, text = await exp.get("/probe", target=case.mcp_url, module="loopback", debug="true")
    assert (
        "https is required: http is allowed only for loopback addresses and localhost names "
        "when url_policy.allow_http_loopback is on"
    ) in text
    case = oauth_fake.case("as_http_endpoints")
    _, text = await exp.get("/probe", target=case.mcp_url, module="loopback", debug="true")
    assert (
        "authorization_endpoint http://auth.example.invalid/authorization is refused: https" in text
    )


async def test_issuer_with_path_uses_openid_path_inserted(
    exp: Exporter, oauth_peers: OAuthPeerFactory
) -> None:
    """An issuer with a path, served only as OpenID metadata, is found (2025-11-25 order)."""
    auth = oauth_peers.authorization_server(issuer_path="/tenant1", metadata=("oidc",))
    mcp = oauth_peers.mcp_server(auth.issuer)
    m = await exp.probe(mcp.url, "loopback")
    assert m["probe_success"] == 1, failure(m)
    assert step(m, "authorization_server") == 1


async def test_allowed_hosts_blocks_metadata_elsewhere(
    exp: Exporter, oauth_mcp_server: OAuthMCPServerPeer
) -> None:
    """A resource_metadata URL on a host outside allowed_hosts is never fetched."""
    m = await exp.probe(oauth_mcp_server.url, "only_example")
    assert failure(m) == ("client_to_upstream", "protected_resource", "target_not_allowed")


async def test_fetch_budget(exp: Exporter, oauth_mcp_server: OAuthMCPServerPeer) -> None:
    """max_fetches bounds the metadata fetches of one probe."""
    m = await exp.probe(oauth_mcp_server.url, "one_fetch")
    assert failure(m) == ("client_to_auth_server", "authorization_server", "target_not_allowed")
    assert step(m, "protected_resource") == 1


async def test_server_without_auth(exp: Exporter, sdk_stateful: Peer) -> None:
    """A server that answers the unauthenticated request fails the discovery expectation."""
    m = await exp.probe(sdk_stateful.url, "loopback")
    assert failure(m) == ("client_to_upstream", "www_authenticate", "expectation_failed")
    assert step(m, "www_authenticate") == 0


async def test_mcp_auth_failure_runs_discovery(
    exp: Exporter, oauth_mcp_server: OAuthMCPServerPeer
) -> None:
    """One scrape says both: the mcp probe needs auth, and the OAuth metadata is healthy."""
    m = await exp.probe(oauth_mcp_server.url, "mcp_then_discovery")
    assert failure(m) == ("client_to_upstream", "initialize", "auth_required")
    for name in STEPS:
        assert step(m, name) == 1
    assert m["probe_oauth_pkce_s256_supported"] == 1
    assert m['probe_hop_success{hop="client_to_auth_server"}'] == 1
    _, text = await exp.get(
        "/probe", target=oauth_mcp_server.url, module="mcp_then_discovery", debug="true"
    )
    assert "the authorization metadata is healthy" in text


@pytest.mark.parametrize("name", sorted(FAKE_CASES))
async def test_fake_case(exp: Exporter, oauth_fake: FakeMetadataServer, name: str) -> None:
    """Each malformed-metadata case fails with its exact reason and hop."""
    case = oauth_fake.case(name)
    m = await exp.probe(case.mcp_url, "loopback")
    if case.expected_reason is None:
        assert m["probe_success"] == 1, failure(m)
        return
    got = failure(m)
    assert got is not None
    assert (got[0], got[2]) == (case.expected_hop, case.expected_reason), got
    assert got[1] == ("protected_resource" if case.doc == "prm" else "authorization_server")
    failed_step = "protected_resource" if case.doc == "prm" else "authorization_server"
    if case.expected_reason != "pkce_unsupported":
        assert step(m, failed_step) == 0
    if case.expected_reason == "pkce_unsupported":
        assert m["probe_oauth_pkce_s256_supported"] == 0
    if case.forbidden_url is not None:
        assert oauth_fake.hits(case.forbidden_url.split(str(oauth_fake.port), 1)[1]) == 0


async def test_resource_prefix_match_and_exact_policy(
    exp: Exporter, oauth_fake: FakeMetadataServer
) -> None:
    """A resource that is a path prefix of the target passes by default and fails `exact`."""
    case = oauth_fake.case("ok", mcp_path="/tenant/mcp")
    prm_path = "/.well-known/oauth-protected-resource/tenant/mcp"
    oauth_fake.set(
        prm_path,
        FakeResponse(
            200, {"resource": oauth_fake.url("/tenant"), "authorization_servers": [case.issuer]}
        ),
    )
    m = await exp.probe(case.mcp_url, "loopback")
    assert m["probe_success"] == 1, failure(m)
    assert m['probe_oauth_resource_match{match="prefix"}'] == 1
    m = await exp.probe(case.mcp_url, "exact")
    assert failure(m) == ("client_to_upstream", "protected_resource", "metadata_invalid")


async def test_well_known_without_header(exp: Exporter, oauth_fake: FakeMetadataServer) -> None:
    """Without resource_metadata the path-inserted well-known URL is used (2025-11-25), unless
    the header is required (2025-06-18)."""
    case = oauth_fake.case("ok")
    oauth_fake.set(
        "/mcp", FakeResponse(401, {}, headers={"WWW-Authenticate": 'Bearer realm="mcp"'})
    )
    m = await exp.probe(case.mcp_url, "loopback")
    assert m["probe_success"] == 1, failure(m)
    m = await exp.probe(case.mcp_url, "header_required")
    assert failure(m) == ("client_to_upstream", "www_authenticate", "metadata_invalid")
    # An empty resource_metadata names no URL: it is missing, not given.
    empty = FakeResponse(401, {}, headers={"WWW-Authenticate": 'Bearer resource_metadata=""'})
    oauth_fake.set("/mcp", empty)
    m = await exp.probe(case.mcp_url, "loopback")
    assert m["probe_success"] == 1, failure(m)
    m = await exp.probe(case.mcp_url, "header_required")
    assert failure(m) == ("client_to_upstream", "www_authenticate", "metadata_invalid")


async def test_odd_challenges_are_parsed(exp: Exporter, oauth_fake: FakeMetadataServer) -> None:
    """Several challenges, odd spacing and escapes still yield the Bearer resource_metadata."""
    case = oauth_fake.case("ok")
    header = (
        f'Basic realm="x, y",  Bearer   error="invalid_token" ,scope = "mcp:read",'
        f'resource_metadata="{case.resource_metadata_url}"'
    )
    oauth_fake.set("/mcp", FakeResponse(401, {}, headers={"WWW-Authenticate": header}))
    before = oauth_fake.hits("/.well-known/oauth-protected-resource")
    m = await exp.probe(case.mcp_url, "loopback")
    assert m["probe_success"] == 1, failure(m)
    assert oauth_fake.hits("/.well-known/oauth-protected-resource") == before


async def test_401_without_bearer(exp: Exporter, oauth_fake: FakeMetadataServer) -> None:
    """A 401 that offers no Bearer challenge is invalid for an OAuth-protected MCP server."""
    case = oauth_fake.case("ok")
    oauth_fake.set("/mcp", FakeResponse(401, {}, headers={"WWW-Authenticate": 'Basic realm="x"'}))
    m = await exp.probe(case.mcp_url, "loopback")
    assert failure(m) == ("client_to_upstream", "www_authenticate", "metadata_invalid")


async def test_registration_reported(exp: Exporter, oauth_fake: FakeMetadataServer) -> None:
    """CIMD and DCR support are reported; requiring registration fails a server with none."""
    case = oauth_fake.case("ok")
    m = await exp.probe(case.mcp_url, "registration_required")
    assert failure(m) == ("client_to_auth_server", "authorization_server", "metadata_invalid")
    metadata = {
        "issuer": case.issuer,
        "authorization_endpoint": case.issuer + "/authorize",
        "token_endpoint": case.issuer + "/token",
        "registration_endpoint": case.issuer + "/register",
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "client_id_metadata_document_supported": True,
    }
    oauth_fake.set("/.well-known/oauth-authorization-server", FakeResponse(200, metadata))
    m = await exp.probe(case.mcp_url, "registration_required")
    assert m["probe_success"] == 1, failure(m)
    assert m['probe_oauth_registration_supported{method="cimd"}'] == 1
    assert m['probe_oauth_registration_supported{method="dcr"}'] == 1


async def test_default_endpoints_fallback(exp: Exporter, oauth_fake: FakeMetadataServer) -> None:
    """With the 2025-03-26 fallback, no metadata at all means the default endpoints are assumed."""
    oauth_fake.set("/mcp", FakeResponse(401, {}, headers={"WWW-Authenticate": "Bearer"}))
    m = await exp.probe(oauth_fake.url("/mcp"), "legacy")
    assert m["probe_success"] == 1, failure(m)
    assert m["probe_oauth_default_endpoints_assumed"] == 1
    assert step(m, "authorization_server") == 1
    assert step(m, "protected_resource") is None
    m = await exp.probe(oauth_fake.url("/mcp"), "loopback")
    assert failure(m) == ("client_to_upstream", "protected_resource", "metadata_unreachable")


async def test_legacy_metadata_may_name_an_issuer_below_the_origin(
    exp: Exporter, oauth_fake: FakeMetadataServer
) -> None:
    """2025-03-26 discovery finds the metadata at the server's origin without knowing the
    issuer: an issuer on that origin (a server mounted under /oauth) is accepted, one on
    another origin is not."""
    base = oauth_fake.url("").rstrip("/")
    oauth_fake.set("/mcp", FakeResponse(401, {}, headers={"WWW-Authenticate": "Bearer"}))
    for issuer, ok in ((base + "/oauth", True), ("http://auth.example.invalid/oauth", False)):
        metadata = {
            "issuer": issuer,
            "authorization_endpoint": base + "/oauth/authorize",
            "token_endpoint": base + "/oauth/token",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
        }
        oauth_fake.set("/.well-known/oauth-authorization-server", FakeResponse(200, metadata))
        m = await exp.probe(oauth_fake.url("/mcp"), "legacy")
        if ok:
            assert m["probe_success"] == 1, failure(m)
            assert m["probe_oauth_default_endpoints_assumed"] == 0
            _, text = await exp.get(
                "/probe", target=oauth_fake.url("/mcp"), module="legacy", debug="true"
            )
            assert f"names issuer {issuer!r}" in text
        else:
            assert failure(m) == (
                "client_to_auth_server",
                "authorization_server",
                "metadata_invalid",
            )


async def test_a_page_at_an_earlier_well_known_url_is_passed_over(
    exp: Exporter, oauth_fake: FakeMetadataServer
) -> None:
    """A 200 that is not JSON (a web app's catch-all page) at one well-known URL does not hide
    metadata at the next URL in the 2025-11-25 order, as clients go on to it; when no later URL
    serves metadata, the page is still reported as invalid metadata."""
    case = oauth_fake.case("ok")
    page = FakeResponse(200, "<html><body>app</body></html>", "text/html")
    # No resource_metadata: the path-inserted PRM URL is a page, the root one is the document.
    oauth_fake.set("/mcp", FakeResponse(401, {}, headers={"WWW-Authenticate": "Bearer"}))
    prm = {"resource": case.mcp_url, "authorization_servers": [case.issuer]}
    oauth_fake.set("/.well-known/oauth-protected-resource/mcp", page)
    oauth_fake.set("/.well-known/oauth-protected-resource", FakeResponse(200, prm))
    m = await exp.probe(case.mcp_url, "loopback")
    assert m["probe_success"] == 1, failure(m)
    # The RFC 8414 URL is a page, the OpenID Connect one is the document.
    metadata = {
        "issuer": case.issuer,
        "authorization_endpoint": case.issuer + "/authorize",
        "token_endpoint": case.issuer + "/token",
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
    }
    oauth_fake.set("/.well-known/oauth-authorization-server", page)
    oauth_fake.set("/.well-known/openid-configuration", FakeResponse(200, metadata))
    m = await exp.probe(case.mcp_url, "loopback")
    assert m["probe_success"] == 1, failure(m)
    assert oauth_fake.hits("/.well-known/openid-configuration") >= 1
    # Nothing after the page: it is what is reported.
    oauth_fake.set("/.well-known/openid-configuration", FakeResponse(404, {}))
    m = await exp.probe(case.mcp_url, "loopback")
    assert failure(m) == ("client_to_auth_server", "authorization_server", "metadata_invalid")
    _, text = await exp.get("/probe", target=case.mcp_url, module="loopback", debug="true")
    assert "authorization-server metadata at " in text
    assert "is not JSON" in text


async def test_resource_metadata_is_required_of_a_401_only(
    exp: Exporter, oauth_fake: FakeMetadataServer
) -> None:
    """require_resource_metadata_header holds a 401 to the 2025-06-18 MUST; an insufficient_scope
    403, for which resource_metadata is a SHOULD (2025-11-25), is passed over to the well-known
    URLs, and a 401 without it still fails."""
    case = oauth_fake.case("ok")
    challenge = 'Bearer error="insufficient_scope", scope="mcp:write"'
    oauth_fake.set("/mcp", FakeResponse(403, {}, headers={"WWW-Authenticate": challenge}))
    m = await exp.probe(case.mcp_url, "mcp_then_header_required")
    assert failure(m) == ("client_to_upstream", "initialize", "insufficient_scope")
    for name in STEPS:
        assert step(m, name) == 1
    _, text = await exp.get(
        "/probe", target=case.mcp_url, module="mcp_then_header_required", debug="true"
    )
    assert "the authorization metadata is healthy" in text
    assert "the 403 challenge has no resource_metadata" in text
    oauth_fake.set("/mcp", FakeResponse(401, {}, headers={"WWW-Authenticate": "Bearer"}))
    m = await exp.probe(case.mcp_url, "mcp_then_header_required")
    assert failure(m) == ("client_to_upstream", "initialize", "auth_required")
    assert step(m, "www_authenticate") == 0
