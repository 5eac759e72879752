"""Properties of a probe against a server that answers anything: arbitrary JSON values and
arbitrary Unicode (lone surrogates included) in every field the probe reads. Whatever comes
back, /probe answers 200 with metrics promtool accepts, the reason is one of the fixed list, no
surface shows the module's token, and the one-shot report renders as UTF-8.

One hand-written server on 127.0.0.1 plays every answer: each example sets what it says next.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.config import parse
from exporter.probe import run_probe
from exporter.probers.failure import REASONS
from exporter.probers.litellm_servers import parse_server_health, parse_server_list
from exporter.report import render
from tests.conftest import Exporter, ExporterFactory
from tests.fakes import Handler, serve
from tests.hostile import nested, serve_routes

TOKEN = "tok-Secret-9d8c7b6a5f4e3d2c1b0a"
CONFIG = f"""
modules:
  any:
    prober: mcp
    timeout: 2s
    mcp:
      transport: streamable_http
      bearer_token: {TOKEN}
      steps: [tools_list, resources_list, prompts_list, ping, tool_call]
      tool_call: {{name: echo, arguments: {{text: hi}}}}
  any_sse:
    prober: mcp
    timeout: 0.5s
    mcp:
      transport: sse
      protocol_version: "2024-11-05"
      bearer_token: {TOKEN}
      steps: [tools_list, ping, tool_call]
      tool_call: {{name: echo, arguments: {{text: hi}}}}
  any_discovery:
    prober: discovery
    timeout: 2s
    discovery:
      url_policy: {{allow_http_loopback: true}}
  any_auth:
    prober: mcp
    timeout: 2s
    mcp:
      transport: streamable_http
      bearer_token: {TOKEN}
      discovery_on_auth_failure: true
    discovery:
      url_policy: {{allow_http_loopback: true}}
"""
# Bounded so the whole file stays within a few tens of seconds.
SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
METHODS = ("initialize", "tools/list", "resources/list", "prompts/list", "ping", "tools/call")

# Any Unicode, surrogates (category Cs) and control characters included, plus text a hostile
# server likes: the token it was sent, escape sequences, bidi controls.
odd_text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=30),
    st.sampled_from(
        [TOKEN, f"Bearer {TOKEN}", "\ud800", "\udfff\ud800", "\x1b[2J", "\x00", "\u202e", ""]
    ),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | odd_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(odd_text, children, max_size=4)
    ),
    max_leaves=12,
)


def valid_results(version: str = "2025-11-25") -> dict[str, dict[str, Any]]:
    """A correct server's result for each method."""
    return {
        "initialize": {
            "protocolVersion": version,
            "capabilities": {"tools": {}, "resources": {}, "prompts": {}},
            "serverInfo": {"name": "s", "version": "1"},
        },
        "tools/list": {"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]},
        "resources/list": {"resources": [{"uri": "test://a", "name": "a"}]},
        "prompts/list": {"prompts": [{"name": "p"}]},
        "ping": {},
        "tools/call": {"content": [{"type": "text", "text": "hi"}]},
    }


@st.composite
def mutated(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """`value` with some members (at any depth) replaced by arbitrary JSON, removed or added."""
    if depth > 3 or draw(st.integers(0, 4)) == 0:
        return draw(json_values)
    if isinstance(value, dict):
        out = {}
        for key, member in value.items():
            choice = draw(st.integers(0, 5))
            if choice == 0:
                continue
            out[key] = draw(mutated(member, depth + 1)) if choice == 1 else member
        if draw(st.booleans()):
            out[draw(odd_text)] = draw(json_values)
        return out
    if isinstance(value, list):
        items = [draw(mutated(item, depth + 1)) for item in value]
        return items + draw(st.lists(json_values, max_size=3))
    return value


@st.composite
def answers(draw: st.DrawFn) -> dict[str, bytes]:
    """A JSON-RPC answer (as the raw body text) for each method: mostly a response around a
    mutated result, sometimes a mutated error, envelope, or any JSON value at all."""
    out: dict[str, bytes] = {}
    for method, result in valid_results().items():
        kind = draw(st.integers(0, 9))
        if kind <= 3:
            message: Any = {"jsonrpc": "2.0", "id": "%ID%", "result": draw(mutated(result))}
        elif kind <= 5:
            message = {"jsonrpc": "2.0", "id": "%ID%", "result": result}
        elif kind == 6:
            error = {
                "code": draw(json_values),
                "message": draw(odd_text),
                "data": draw(json_values),
            }
            message = {"jsonrpc": "2.0", "id": "%ID%", "error": error}
        elif kind == 7:
            message = draw(mutated({"jsonrpc": "2.0", "id": "%ID%", "result": result}))
        elif kind == 8:
            message = {"jsonrpc": "2.0", "id": draw(json_values), "result": result}
        else:
            message = draw(json_values)
        out[method] = json.dumps(message).encode()
    return out


@dataclass
class Script:
    """What the server says next: a body per method, as JSON or as an event stream, with the
    server's own requests (any method, any id) first on a stream."""

    bodies: dict[str, bytes] = field(default_factory=dict)
    sse: bool = False
    server_requests: list[bytes] = field(default_factory=list)
    session_id: str | None = None
    # Instead of answering initialize: this status, headers and body.
    refusal: tuple[int, dict[str, str], bytes] | None = None


def scripted_server(script: Script) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method == "DELETE":
            return web.Response(status=200)
        try:
            message = await request.json()
        except ValueError:
            return web.Response(status=400)
        if not isinstance(message, dict) or "method" not in message:
            return web.Response(status=202)  # a notification, or the client's answer to us
        if script.refusal is not None and message["method"] == "initialize":
            status, refusal_headers, refusal_body = script.refusal
            return web.Response(status=status, headers=refusal_headers, body=refusal_body)
        body = script.bodies.get(str(message["method"]))
        if body is None or "id" not in message:
            return web.Response(status=202)
        body = body.replace(b'"%ID%"', json.dumps(message["id"]).encode())
        headers = {}
        if script.session_id is not None and message["method"] == "initialize":
            headers["Mcp-Session-Id"] = script.session_id
        if not script.sse:
            return web.Response(body=body, headers={**headers, "Content-Type": "application/json"})
        response = web.StreamResponse(headers={**headers, "Content-Type": "text/event-stream"})
        await response.prepare(request)
        for item in script.server_requests:
            await response.write(b"event: message\ndata: " + item + b"\n\n")
        await response.write(b"event: message\ndata: " + body + b"\n\n")
        await response.write_eof()
        return response

    return handler


def scripted_legacy_server(script: Script) -> dict[str, Any]:
    """The same script over legacy HTTP+SSE: every answer (and the server's requests before
    it) goes out on the GET stream."""
    streams: dict[web.StreamResponse, asyncio.Event] = {}

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"event: endpoint\ndata: /messages\n\n")
        gone = streams[response] = asyncio.Event()
        await gone.wait()  # held open until a write finds the client gone
        return response

    async def messages(request: web.Request) -> web.StreamResponse:
        try:
            message = await request.json()
        except ValueError:
            return web.Response(status=400)
        if not isinstance(message, dict) or "method" not in message or "id" not in message:
            return web.Response(status=202)
        body = script.bodies.get(str(message["method"]), b"{}")
        body = body.replace(b'"%ID%"', json.dumps(message["id"]).encode())
        for response, gone in list(streams.items()):
            try:
                for item in script.server_requests:
                    await response.write(b"event: message\ndata: " + item + b"\n\n")
                await response.write(b"event: message\ndata: " + body + b"\n\n")
            except (ConnectionError, RuntimeError):
                del streams[response]
                gone.set()
        return web.Response(status=202)

    return {"/sse": stream, "/messages": messages}


@dataclass
class Harness:
    exporter: Exporter
    url: str
    script: Script
    legacy_url: str = ""


@pytest.fixture
async def harness(make_exporter: ExporterFactory) -> AsyncIterator[Harness]:
    """The exporter and the scripted servers, shared by every example of a test."""
    script = Script()
    exporter = await make_exporter(CONFIG)
    async with (
        serve(scripted_server(script)) as url,
        serve_routes(scripted_legacy_server(script)) as base,
    ):
        yield Harness(exporter, url, script, f"{base}/sse")


def promtool_check(text: str) -> None:
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=text.encode(), capture_output=True, check=False
    )
    assert result.returncode == 0, (result.stdout + result.stderr).decode() + text


def _metrics_of(debug: str) -> str:
    start = debug.index("Metrics that would have been returned:\n") + len(
        "Metrics that would have been returned:\n"
    )
    return debug[start : debug.index("\nModule configuration (")]


async def check_every_surface(
    h: Harness, module_name: str = "any", target: str | None = None
) -> None:
    """/probe (metrics and debug), /logs and the landing page answer 200, the metrics pass
    promtool, the reason is a known one and not `internal`, the token appears nowhere; the
    one-shot report (text and JSON) renders as UTF-8 without it."""
    url = target or (h.legacy_url if module_name == "any_sse" else h.url)
    status, metrics = await h.exporter.get("/probe", target=url, module=module_name)
    assert status == 200, metrics
    promtool_check(metrics)
    reasons = [
        line.split('reason="', 1)[1].split('"', 1)[0]
        for line in metrics.splitlines()
        if line.startswith("probe_failure_info{")
    ]
    assert all(reason in REASONS for reason in reasons), reasons
    # `internal` is a prober bug (logged with a traceback): nothing a target sends may cause one.
    assert "internal" not in reasons, metrics
    assert ("probe_success 1" in metrics) == (not reasons)
    status, debug = await h.exporter.get("/probe", target=url, module=module_name, debug="true")
    assert status == 200, debug
    assert _metrics_of(debug).startswith("# HELP probe_")
    newest = h.exporter.state.history.recent()[0].id
    status, log = await h.exporter.get("/logs", id=str(newest))
    assert status == 200, log
    status, landing = await h.exporter.get("/")
    assert status == 200
    module = parse(CONFIG, "properties").modules[module_name]
    outcome = await run_probe(url, module, module.config.timeout)
    text = render(outcome)
    data = render(outcome, as_json=True)
    json.loads(data)
    for surface in (metrics, debug, log, landing, text, data):
        surface.encode("utf-8")  # strict: no lone surrogate anywhere
        assert TOKEN not in surface
        assert TOKEN[4:16] not in surface


@SETTINGS
@given(bodies=answers(), sse=st.booleans())
async def test_any_answer_to_any_method(
    harness: Harness, bodies: dict[str, bytes], sse: bool
) -> None:
    """Arbitrary values in every field of every answer, as JSON or as an event stream."""
    harness.script.bodies, harness.script.sse = bodies, sse
    harness.script.server_requests, harness.script.session_id = [], None
    harness.script.refusal = None
    await check_every_surface(harness)


server_request = st.fixed_dictionaries(
    {"jsonrpc": st.just("2.0"), "method": st.one_of(odd_text, json_values), "id": json_values},
    optional={"params": json_values},
).map(lambda message: json.dumps(message).encode())


@SETTINGS
@given(
    requests=st.lists(
        st.one_of(server_request, json_values.map(lambda v: json.dumps(v).encode())), max_size=4
    ),
    session_id=st.one_of(
        st.none(),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), min_size=1, max_size=40),
    ),
)
async def test_any_server_request_and_session_id(
    harness: Harness, requests: list[bytes], session_id: str | None
) -> None:
    """Arbitrary messages from the server on the stream before each answer (requests with any
    method and id, notifications, junk) and any Mcp-Session-Id."""
    harness.script.bodies = {
        method: json.dumps({"jsonrpc": "2.0", "id": "%ID%", "result": result}).encode()
        for method, result in valid_results().items()
    }
    harness.script.sse, harness.script.server_requests = True, requests
    harness.script.session_id, harness.script.refusal = session_id, None
    await check_every_surface(harness)


# Header values as HTTP carries them: any octet but CR and LF (decoded as Latin-1).
header_value = st.one_of(
    st.text(st.characters(max_codepoint=0xFF, exclude_characters="\r\n"), max_size=60),
    st.sampled_from(
        [f'Bearer error="invalid_token", error_description="{TOKEN}"', f"Bearer {TOKEN}"]
    ),
)


@SETTINGS
@given(
    status=st.sampled_from([400, 401, 403, 404, 405, 429, 500, 502]),
    headers=st.dictionaries(
        st.sampled_from(["WWW-Authenticate", "Content-Type", "X-Litellm-Version", "Location"]),
        header_value,
        max_size=3,
    ),
    body=st.one_of(
        st.binary(max_size=200),
        odd_text.map(lambda text: text.encode("utf-8", "surrogatepass")),
        json_values.map(lambda value: json.dumps(value).encode()),
    ),
)
async def test_any_refusal_of_initialize(
    harness: Harness, status: int, headers: dict[str, str], body: bytes
) -> None:
    """An error status with any headers (challenges, content types) and any body, invalid
    UTF-8 and echoed credentials included."""
    harness.script.refusal = (status, headers, body)
    await check_every_surface(harness)


@settings(SETTINGS, max_examples=10)
@given(
    bodies=answers(),
    requests=st.lists(server_request, max_size=3),
)
async def test_any_answer_over_legacy_sse(
    harness: Harness, bodies: dict[str, bytes], requests: list[bytes]
) -> None:
    """Arbitrary answers and server requests on a legacy HTTP+SSE stream (fewer examples: an
    answer that is no response makes the probe wait for its timeout)."""
    harness.script.bodies, harness.script.server_requests = bodies, requests
    harness.script.sse, harness.script.session_id, harness.script.refusal = True, None, None
    await check_every_surface(harness, "any_sse")


@dataclass
class Metadata:
    """What the scripted authorization discovery answers: the challenge, and the two documents
    (with %BASE% standing for the server's own base URL)."""

    challenge: str = ""
    protected_resource: bytes = b"{}"
    authorization_server: bytes = b"{}"


def _valid_metadata() -> tuple[dict[str, Any], dict[str, Any]]:
    resource = {
        "resource": "%BASE%/mcp",
        "authorization_servers": ["%BASE%"],
        "scopes_supported": ["mcp"],
        "bearer_methods_supported": ["header"],
    }
    server = {
        "issuer": "%BASE%",
        "authorization_endpoint": "%BASE%/authorize",
        "token_endpoint": "%BASE%/token",
        "registration_endpoint": "%BASE%/register",
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "client_id_metadata_document_supported": True,
    }
    return resource, server


@pytest.fixture
async def discovery_harness(
    make_exporter: ExporterFactory,
) -> AsyncIterator[tuple[Harness, Metadata]]:
    """A target that challenges every request and serves scripted OAuth metadata."""
    metadata = Metadata()
    base = ""

    def fill(body: bytes) -> bytes:
        return body.replace(b"%BASE%", base.encode())

    async def mcp(_request: web.Request) -> web.StreamResponse:
        return web.Response(
            status=401,
            headers={
                "WWW-Authenticate": fill(metadata.challenge.encode("latin-1")).decode("latin-1")
            },
        )

    async def protected_resource(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=fill(metadata.protected_resource), content_type="application/json")

    async def authorization_server(_request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=fill(metadata.authorization_server), content_type="application/json"
        )

    routes: dict[str, Handler] = {
        "/mcp": mcp,
        "/.well-known/oauth-protected-resource/mcp": protected_resource,
        "/.well-known/oauth-protected-resource": protected_resource,
        "/.well-known/oauth-authorization-server": authorization_server,
        "/.well-known/openid-configuration": authorization_server,
    }
    exporter = await make_exporter(CONFIG)
    async with serve_routes(routes) as served:
        base = served
        yield Harness(exporter, f"{served}/mcp", Script()), metadata


challenges = st.one_of(
    st.just('Bearer resource_metadata="%BASE%/.well-known/oauth-protected-resource/mcp"'),
    st.builds(
        lambda scheme, params: f"{scheme} " + ", ".join(f'{k}="{v}"' for k, v in params.items()),
        st.sampled_from(["Bearer", "bearer", "Basic", "DPoP", ""]),
        st.dictionaries(
            st.sampled_from(["resource_metadata", "scope", "error", "error_description", "realm"]),
            st.one_of(
                st.just("%BASE%/.well-known/oauth-protected-resource/mcp"),
                st.text(st.characters(max_codepoint=0xFF, exclude_characters='\r\n"'), max_size=30),
            ),
            max_size=4,
        ),
    ),
    header_value,
)


@settings(SETTINGS, max_examples=15)
@given(
    challenge=challenges,
    resource=mutated(_valid_metadata()[0]),
    server=mutated(_valid_metadata()[1]),
    module=st.sampled_from(["any_discovery", "any_auth"]),
)
async def test_any_authorization_metadata(
    discovery_harness: tuple[Harness, Metadata],
    challenge: str,
    resource: Any,
    server: Any,
    module: str,
) -> None:
    """Any challenge and any protected-resource and authorization-server documents, read by the
    discovery prober and by an mcp probe that runs discovery after a 401."""
    harness, metadata = discovery_harness
    metadata.challenge = challenge
    metadata.protected_resource = json.dumps(resource).encode()
    metadata.authorization_server = json.dumps(server).encode()
    await check_every_surface(harness, module, harness.url)


def _metadata_documents(metadata: Metadata, resource: Any, server: Any) -> None:
    metadata.challenge = (
        'Bearer resource_metadata="%BASE%/.well-known/oauth-protected-resource/mcp"'
    )
    metadata.protected_resource = json.dumps(resource).encode()
    metadata.authorization_server = json.dumps(server).encode()


@pytest.mark.parametrize("document", ["protected_resource", "authorization_server"])
@pytest.mark.parametrize("module", ["any_discovery", "any_auth"])
async def test_metadata_nested_too_deeply(
    discovery_harness: tuple[Harness, Metadata], document: str, module: str
) -> None:
    """A metadata document nested past the JSON parser's recursion limit is a document that did
    not parse, as any other (it was `internal`, with a RecursionError in the log)."""
    harness, metadata = discovery_harness
    _metadata_documents(metadata, *_valid_metadata())
    setattr(metadata, document, nested(100_000).encode())
    await check_every_surface(harness, module, harness.url)


async def test_metadata_urls_with_control_characters_replay_clean(
    discovery_harness: tuple[Harness, Metadata],
) -> None:
    """An authorization server URL with a NUL and an escape sequence in it: the curl replay in
    the debug output and /logs shows U+FFFD for each, as every other surface does."""
    harness, metadata = discovery_harness
    resource, server = _valid_metadata()
    resource["authorization_servers"] = ["http://127.0.0.1:1/\x00\x1b[31m"]
    _metadata_documents(metadata, resource, server)
    await check_every_surface(harness, "any_discovery", harness.url)
    exporter = harness.exporter
    status, debug = await exporter.get(
        "/probe", target=harness.url, module="any_discovery", debug="true"
    )
    assert status == 200
    _, log = await exporter.get("/logs", id=str(exporter.state.history.recent()[0].id))
    assert "/\ufffd\ufffd[31m" in debug  # the replay of the request to that URL
    for text in (debug, log):
        assert "curl" in text
        assert "\x00" not in text
        assert "\x1b" not in text


def test_gateway_lists_nested_too_deeply_are_malformed() -> None:
    """LiteLLM's server list and health answers nested past the recursion limit are malformed
    answers (ValueError, which the probers and discovery report), not a RecursionError."""
    body = nested(100_000).encode()
    for parse_answer in (parse_server_list, parse_server_health):
        with pytest.raises(ValueError, match="nested too deeply"):
            parse_answer(body)
