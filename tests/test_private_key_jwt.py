"""OAuth2 client credentials with private_key_jwt (RFC 7523 section 2.2) against the real Authlib
authorization server, which verifies each assertion with the client's registered keys."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from exporter.config import ConfigError, parse
from tests.conftest import ExporterFactory
from tests.exporter_process import StartExporter
from tests.peers.oauth import (
    EC_KEY,
    JWT_CLIENT,
    RSA_KEY,
    UNKNOWN_EC_KEY,
    AuthorizationServerPeer,
    OAuthMCPServerPeer,
    SigningKey,
)
from tests.test_probe_mcp import failure


def jwt_module(
    name: str,
    key_file: Path,
    key: SigningKey,
    *,
    token_url: str | None,
    audience: str | None = None,
    kid: bool = True,
) -> str:
    options = [
        f"client_id: {JWT_CLIENT.client_id}",
        "auth_method: private_key_jwt",
        f"private_key: {{file: {key_file}}}",
        f"signing_algorithm: {key.algorithm}",
        "scopes: [mcp:read]",
    ]
    if kid:
        options.append(f"key_id: {key.kid}")
    if token_url is not None:
        options.append(f"token_url: {token_url}")
    if audience is not None:
        options.append(f"assertion_audience: {audience}")
    discovery = (
        "\n    discovery: {url_policy: {allow_http_loopback: true}}" if not token_url else ""
    )
    return f"""
  {name}:
    prober: mcp
    mcp:
      oauth2: {{{", ".join(options)}}}{discovery}
"""


def key_file(tmp_path: Path, key: SigningKey) -> Path:
    path = tmp_path / f"{key.kid}.pem"
    path.write_text(key.private_pem)
    return path


def last_token_request(auth: AuthorizationServerPeer) -> dict[str, object]:
    return [e for e in auth.token_log() if e["client_id"] == JWT_CLIENT.client_id][-1]


@pytest.mark.parametrize("key", [RSA_KEY, EC_KEY], ids=["RS256", "ES256"])
async def test_signed_assertion_gets_a_token(
    make_exporter: ExporterFactory,
    tmp_path: Path,
    oauth_authorization_server: AuthorizationServerPeer,
    oauth_mcp_server: OAuthMCPServerPeer,
    key: SigningKey,
) -> None:
    """RS256 and ES256 assertions, with kid and a short exp, get a token the MCP server accepts;
    the token endpoint is the default audience."""
    auth = oauth_authorization_server
    exp = await make_exporter(
        "modules:" + jwt_module("jwt", key_file(tmp_path, key), key, token_url=auth.token_endpoint)
    )
    before = time.time()
    m = await exp.probe(oauth_mcp_server.url, "jwt")
    assert m["probe_success"] == 1, failure(m)
    assert m['probe_oauth_step_success{step="token"}'] == 1
    entry = last_token_request(auth)
    assert entry["status"] == 200
    assert entry["auth_method"] == "private_key_jwt"
    assert (
        entry["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    assert entry["resource"] == [oauth_mcp_server.url]
    assertion = entry["assertion"]
    assert isinstance(assertion, dict)
    header, claims = assertion["header"], assertion["claims"]
    assert header == {"alg": key.algorithm, "typ": "JWT", "kid": key.kid}
    assert claims["iss"] == claims["sub"] == JWT_CLIENT.client_id
    assert claims["aud"] == auth.token_endpoint
    assert before - 1 <= claims["iat"] <= time.time() + 1
    assert claims["exp"] - claims["iat"] == 60
    assert len(claims["jti"]) >= 16


async def test_every_token_request_has_a_new_jti(
    make_exporter: ExporterFactory,
    tmp_path: Path,
    oauth_authorization_server: AuthorizationServerPeer,
    oauth_mcp_server: OAuthMCPServerPeer,
) -> None:
    """The server accepts each jti once; the probe never reuses one (a reload empties the
    token cache, so each probe after one asks again)."""
    auth = oauth_authorization_server
    exp = await make_exporter(
        "modules:"
        + jwt_module("jwt", key_file(tmp_path, EC_KEY), EC_KEY, token_url=auth.token_endpoint)
    )
    jtis = []
    for _ in range(3):
        async with exp.client.post(f"{exp.base}/-/reload") as resp:
            assert resp.status == 200
        m = await exp.probe(oauth_mcp_server.url, "jwt")
        assert m["probe_success"] == 1, failure(m)
        assert m["probe_oauth_token_from_cache"] == 0
        assertion = last_token_request(auth)["assertion"]
        assert isinstance(assertion, dict)
        jtis.append(assertion["claims"]["jti"])
    assert len(set(jtis)) == 3


async def test_issuer_audience_from_discovery(
    make_exporter: ExporterFactory,
    tmp_path: Path,
    oauth_authorization_server: AuthorizationServerPeer,
    oauth_mcp_server: OAuthMCPServerPeer,
) -> None:
    """With assertion_audience issuer, the audience is the issuer that discovery found."""
    auth = oauth_authorization_server
    exp = await make_exporter(
        "modules:"
        + jwt_module("jwt", key_file(tmp_path, RSA_KEY), RSA_KEY, token_url=None, audience="issuer")
    )
    m = await exp.probe(oauth_mcp_server.url, "jwt")
    assert m["probe_success"] == 1, failure(m)
    assert m['probe_oauth_step_success{step="authorization_server"}'] == 1
    assertion = last_token_request(auth)["assertion"]
    assert isinstance(assertion, dict)
    assert assertion["claims"]["aud"] == auth.issuer


async def test_refused_assertions_are_token_fetch_failed(
    make_exporter: ExporterFactory,
    tmp_path: Path,
    oauth_authorization_server: AuthorizationServerPeer,
    oauth_mcp_server: OAuthMCPServerPeer,
) -> None:
    """An unknown key or an audience the server does not answer to is invalid_client."""
    auth = oauth_authorization_server
    exp = await make_exporter(
        "modules:"
        + jwt_module(
            "unknown_key",
            key_file(tmp_path, UNKNOWN_EC_KEY),
            UNKNOWN_EC_KEY,
            token_url=auth.token_endpoint,
        )
        + jwt_module(
            "other_audience",
            key_file(tmp_path, EC_KEY),
            EC_KEY,
            token_url=auth.token_endpoint,
            audience="https://elsewhere.example.invalid/token",
        )
    )
    for module in ("unknown_key", "other_audience"):
        m = await exp.probe(oauth_mcp_server.url, module)
        assert failure(m) == ("client_to_auth_server", "token", "token_fetch_failed"), module
        assert m['probe_oauth_token_error_info{error="invalid_client"}'] == 1, module
        assert last_token_request(auth)["error"] == "invalid_client"


async def test_unreadable_key_at_probe_time(
    make_exporter: ExporterFactory,
    tmp_path: Path,
    oauth_authorization_server: AuthorizationServerPeer,
    oauth_mcp_server: OAuthMCPServerPeer,
) -> None:
    """A key file that goes bad after the config loaded fails the probe inside the exporter,
    naming the key, and sends no token request."""
    auth = oauth_authorization_server
    path = key_file(tmp_path, EC_KEY)
    exp = await make_exporter(
        "modules:" + jwt_module("jwt", path, EC_KEY, token_url=auth.token_endpoint)
    )
    path.write_text("rotated to something that is not a key")
    before = len(auth.token_log())
    m = await exp.probe(oauth_mcp_server.url, "jwt")
    assert failure(m) == ("exporter", "token", "internal")
    assert len(auth.token_log()) == before
    _, text = await exp.get("/probe", target=oauth_mcp_server.url, module="jwt", debug="true")
    assert "oauth2.private_key: not a PEM private key" in text


@pytest.mark.parametrize(
    ("key", "algorithm", "message"),
    [
        (RSA_KEY, "ES256", "ES256 needs an EC private key on P-256, not an RSA key"),
        (EC_KEY, "RS256", "RS256 needs an RSA private key, not an EC key on secp256r1"),
    ],
)
def test_key_that_cannot_sign_is_a_config_error(
    tmp_path: Path, key: SigningKey, algorithm: str, message: str
) -> None:
    """A key of the wrong type for its algorithm is refused at load with its location."""
    path = key_file(tmp_path, key)
    text = f"""
modules:
  m:
    prober: mcp
    mcp:
      oauth2:
        client_id: probe
        auth_method: private_key_jwt
        private_key: {{file: {path}}}
        signing_algorithm: {algorithm}
"""
    with pytest.raises(ConfigError) as info:
        parse(text, "test.yml")
    assert str(info.value).splitlines() == [
        f"test.yml: modules.m.mcp.oauth2.private_key: {message}"
    ]


def test_private_key_on_no_surface(
    tmp_path: Path,
    start_exporter: StartExporter,
    oauth_authorization_server: AuthorizationServerPeer,
    oauth_mcp_server: OAuthMCPServerPeer,
) -> None:
    """Neither the private key nor an assertion appears in any log, page or debug output."""
    auth = oauth_authorization_server
    config = tmp_path / "config.yml"
    config.write_text(
        "modules:"
        + jwt_module("jwt", key_file(tmp_path, EC_KEY), EC_KEY, token_url=auth.token_endpoint)
    )
    process = start_exporter("--config.file", str(config), "--log.level", "debug")
    outputs = []
    try:
        q = f"target={quote(oauth_mcp_server.url, safe='')}&module=jwt"
        outputs.append(process.get(f"/probe?{q}")[1])
        outputs.append(process.get(f"/probe?{q}&debug=true")[1])
        for path in ("/", "/metrics", "/config", "/logs?id=0", "/logs?id=1"):
            outputs.append(process.get(path)[1])
    finally:
        outputs.append(process.stop())
    everything = "\n".join(outputs)
    assert "probe_success 1" in everything
    body = "".join(EC_KEY.private_pem.splitlines()[1:-1])
    for line in EC_KEY.private_pem.splitlines()[1:-1]:
        assert line not in everything
    assert body[:40] not in everything
    assert "eyJ" not in everything  # every assertion and access token is a JWT


def test_one_shot_report_hides_the_assertion(
    tmp_path: Path,
    oauth_authorization_server: AuthorizationServerPeer,
    oauth_mcp_server: OAuthMCPServerPeer,
) -> None:
    """`mcp-exporter probe` succeeds with private_key_jwt; its curl replay names the assertion
    as a shell variable and prints neither it nor the key."""
    auth = oauth_authorization_server
    config = tmp_path / "config.yml"
    config.write_text(
        "modules:"
        + jwt_module("jwt", key_file(tmp_path, RSA_KEY), RSA_KEY, token_url=auth.token_endpoint)
    )
    command = [sys.executable, "-m", "exporter", "probe", oauth_mcp_server.url]
    result = subprocess.run(
        [*command, "--config.file", str(config), "--module", "jwt"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert '"$OAUTH_CLIENT_ASSERTION"' in output
    assert "eyJ" not in output
    assert RSA_KEY.private_pem.splitlines()[1] not in output
