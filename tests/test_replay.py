"""The curl replay of a probe: printed by the debug output, /logs and the one-shot report, with
every secret a shell variable; run with bash and real curl against real servers, it gets the
answers the probe got."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from aiohttp import web

from exporter.config import parse
from exporter.probe import run_probe
from exporter.probers.mcp_steps import tools_fingerprint
from exporter.report import render
from tests import fakes, hostile
from tests.conftest import ExporterFactory
from tests.peers.mcp_servers import Peer
from tests.peers.oauth import (
    DEFAULT_CLIENT,
    POST_ONLY_CLIENT,
    AuthorizationServerPeer,
    OAuthMCPServerPeer,
)

TOKEN = "replay-token-" + "t" * 20
API_KEY = "replay-api-key-" + "k" * 20
CONFIG = """
modules:
  secrets:
    prober: mcp
    mcp:
      steps: [tools_list, ping]
      bearer_token: {env: REPLAY_TEST_TOKEN}
      headers:
        x-api-key: {env: REPLAY_TEST_KEY}
        x-tenant: "team 'a' $(touch pwned) \\"b\\""
  stateless:
    prober: mcp
    mcp: {steps: [tools_list]}
"""


@pytest.fixture(autouse=True)
def _secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLAY_TEST_TOKEN", TOKEN)
    monkeypatch.setenv("REPLAY_TEST_KEY", API_KEY)


def replay_section(text: str) -> str:
    start = text.index("# Replay of this probe's requests with curl.")
    return text[start:]


def run_script(script: str, cwd: Path, **env: str) -> list[tuple[int, list[Any]]]:
    """Run the commands with bash; per curl command, its HTTP status and the JSON-RPC messages
    of its body (a JSON body, or the data lines of an event stream)."""
    result = subprocess.run(
        ["bash", "-eu", "-c", script],
        cwd=cwd,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answers: list[tuple[int, list[Any]]] = []
    body: list[str] = []
    for line in result.stdout.splitlines():
        if line.startswith("HTTP "):
            messages = []
            for text in body:
                text = text.removeprefix("data: ").strip()
                if text.startswith("{"):
                    messages.append(json.loads(text))
            answers.append((int(line.split()[1]), messages))
            body = []
        else:
            body.append(line)
    return answers


async def test_replay_of_a_stateful_session_gets_the_same_answers(
    make_exporter: ExporterFactory, sdk_stateful: Peer, tmp_path: Path
) -> None:
    """The debug output, /logs and the report end with the same commands; no secret is printed;
    run with the variables set, they open their own session (Mcp-Session-Id from the initialize
    answer), send the same headers and get the server info, tool list and ping answer the probe
    got, then delete the session."""
    exporter = await make_exporter(CONFIG)
    status, debug = await exporter.get(
        "/probe", target=sdk_stateful.url, module="secrets", debug="true"
    )
    assert status == 200
    script = replay_section(debug)
    _, landing = await exporter.get("/")
    assert "logs?id=0" in landing
    _, logs = await exporter.get("/logs", id="0")
    assert replay_section(logs) == script
    module = parse(CONFIG, "test").modules["secrets"]
    outcome = await run_probe(sdk_stateful.url, module, 10)
    assert outcome.success
    report = render(outcome)
    assert replay_section(report) == script
    assert json.loads(render(outcome, as_json=True))["replay"] == script
    for secret in (TOKEN, API_KEY):
        for surface in (debug, logs, report):
            assert secret not in surface
    assert '"$MCP_TOKEN"' in script
    assert '"$X_API_KEY"' in script
    assert "export MCP_SESSION_ID" not in script

    before = len(sdk_stateful.requests())
    answers = run_script(script, tmp_path, MCP_TOKEN=TOKEN, X_API_KEY=API_KEY)
    assert not (tmp_path / "pwned").exists()
    assert [status for status, _ in answers] == [200, 202, 200, 200, 200]
    initialize, _initialized, tools, ping, _delete = (messages for _, messages in answers)
    server = initialize[0]["result"]
    assert server["serverInfo"] == {"name": "sdk-test-server", "version": "9.9.9"}
    assert server["protocolVersion"] == "2025-11-25"
    fingerprint = outcome.registry.value("probe_mcp_tools_fingerprint")
    assert tools_fingerprint(tools[0]["result"]["tools"]) == fingerprint
    assert ping[0]["result"] == {}
    seen = sdk_stateful.requests()[before:]
    assert [r["method"] for r in seen] == ["POST", "POST", "POST", "POST", "DELETE"]
    assert [r["session"] for r in seen] == [False, True, True, True, True]
    assert [r["protocol_version"] for r in seen] == [None] + ["2025-11-25"] * 4


async def test_replay_of_a_stateless_json_server(sdk_stateless_json: Peer, tmp_path: Path) -> None:
    """Without a session there is no session variable; the JSON answers come back as they did."""
    module = parse(CONFIG, "test").modules["stateless"]
    outcome = await run_probe(sdk_stateless_json.url, module, 10)
    assert outcome.success
    script = replay_section(render(outcome))
    assert "MCP_SESSION_ID" not in script
    answers = run_script(script, tmp_path)
    assert [status for status, _ in answers] == [200, 202, 200]
    tools = answers[2][1][0]["result"]["tools"]
    assert tools_fingerprint(tools) == outcome.registry.value("probe_mcp_tools_fingerprint")


async def test_replay_of_a_client_credentials_probe(
    oauth_authorization_server: AuthorizationServerPeer,
    oauth_mcp_server: OAuthMCPServerPeer,
    tmp_path: Path,
) -> None:
    """The token request is replayed with the client's Basic credentials as a variable; the
    access token it returns is used by the MCP requests after it, which the real OAuth-protected
    server accepts."""
    config = f"""
modules:
  oauth:
    prober: mcp
    mcp:
      oauth2:
        client_id: {DEFAULT_CLIENT.client_id}
        client_secret: {{env: REPLAY_TEST_KEY}}
        token_url: {oauth_authorization_server.token_endpoint}
        scopes: [mcp:read]
"""
    os.environ["REPLAY_TEST_KEY"] = str(DEFAULT_CLIENT.client_secret)
    module = parse(config, "test").modules["oauth"]
    outcome = await run_probe(oauth_mcp_server.url, module, 10)
    assert outcome.success, outcome.failure
    script = replay_section(render(outcome))
    assert str(DEFAULT_CLIENT.client_secret) not in script
    assert "export OAUTH_CLIENT_BASIC=" in script
    assert "export MCP_TOKEN" not in script
    basic = base64.b64encode(
        f"{DEFAULT_CLIENT.client_id}:{DEFAULT_CLIENT.client_secret}".encode()
    ).decode()
    answers = run_script(script, tmp_path, OAUTH_CLIENT_BASIC=basic)
    statuses = [status for status, _ in answers]
    # token, initialize, initialized, tools/list, DELETE
    assert statuses == [200, 200, 202, 200, 200], answers
    assert answers[3][1][0]["result"]["tools"]


async def test_a_client_secret_in_the_form_is_a_variable(
    oauth_authorization_server: AuthorizationServerPeer,
    oauth_mcp_server: OAuthMCPServerPeer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """client_secret_post: the form-encoded secret in the token request's body is
    $OAUTH_CLIENT_SECRET, also when it has characters form encoding changes."""
    config = f"""
modules:
  post:
    prober: mcp
    mcp:
      oauth2:
        client_id: {POST_ONLY_CLIENT.client_id}
        client_secret: {{env: REPLAY_TEST_KEY}}
        token_url: {oauth_authorization_server.token_endpoint}
        auth_method: client_secret_post
        scopes: [mcp:read]
"""
    for secret in (str(POST_ONLY_CLIENT.client_secret), "s3cr&t=with spaces+plus/" + "x" * 8):
        monkeypatch.setenv("REPLAY_TEST_KEY", secret)
        module = parse(config, "test").modules["post"]
        outcome = await run_probe(oauth_mcp_server.url, module, 10)
        script = replay_section(render(outcome))
        assert 'client_secret="$OAUTH_CLIENT_SECRET"' in script.replace("'", "")
        for form in (secret, quote_plus(secret)):
            assert form not in script


async def test_hostile_target_text_stays_quoted(tmp_path: Path) -> None:
    """A target URL with quotes, `$()` and backticks in its query runs nothing in bash: the query is
    a variable the operator sets (never printed), and curl sends it as it is."""
    seen: list[str] = []

    async def record(request: web.Request, message: dict[str, Any]) -> web.StreamResponse | None:
        seen.append(request.query_string)
        return None

    async with fakes.serve(hostile.mcp_server(record)) as url:
        target = url + "?q='$(touch%20pwned)'`touch%20pwned2`\"&x=$HOME"
        module = parse(CONFIG, "test").modules["stateless"]
        outcome = await run_probe(target, module, 10)
        assert outcome.success
        script = replay_section(render(outcome))
        # The query is the operator's to set (it may carry credentials): never printed.
        query = target.partition("?")[2]
        assert "pwned" not in script
        # The fake serves on this event loop: bash runs in a thread meanwhile.
        answers = await asyncio.to_thread(run_script, script, tmp_path, MCP_QUERY=query)
    assert [status for status, _ in answers] == [200, 202, 200]
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "pwned2").exists()
    assert seen[-3:] == seen[:3]
