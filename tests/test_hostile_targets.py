"""Hostile targets: every probe ends within its timeout, with the right hop, phase and reason,
and the exporter stays healthy (liveness, and the next probe of a real server succeeds)."""

from __future__ import annotations

import asyncio
import datetime
import json
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web

from tests import hostile
from tests.conftest import Exporter, ExporterFactory
from tests.exporter_process import StartExporter
from tests.fakes import Handler, serve
from tests.peers.mcp_servers import Peer, free_port, start_sdk
from tests.test_probe_mcp import failure

TIMEOUT = 2.0
# Closing connections after the deadline may take a moment; nothing else may.
MARGIN = 0.5
LIMITS = "limits: {max_response_bytes: 1MiB, max_header_bytes: 16KiB, max_redirects: 3}"
CONFIG = f"""
modules:
  mcp:
    prober: mcp
    timeout: 10s
  hostile:
    prober: mcp
    timeout: {TIMEOUT}s
    mcp:
      transport: streamable_http
      {LIMITS}
  hostile_sse:
    prober: mcp
    timeout: {TIMEOUT}s
    mcp:
      transport: sse
      protocol_version: "2024-11-05"
      {LIMITS}
"""
UP = "client_to_upstream"
INIT_RESULT = (
    b'{"jsonrpc":"2.0","id":%(id)d,"result":{"protocolVersion":"2025-11-25",'
    b'"capabilities":{"tools":{}},"serverInfo":{"name":"NAME","version":"0"}}}'
)

Target = Callable[[], AbstractAsyncContextManager[str]]


@asynccontextmanager
async def _raw(handler: hostile.RawHandler) -> AsyncIterator[str]:
    async with hostile.raw_serve(handler) as server:
        yield server.url


def fake(handler: Handler) -> Target:
    """An aiohttp fake as a target."""
    return lambda: serve(handler)


def raw(handler: hostile.RawHandler) -> Target:
    """A raw asyncio server as a target."""
    return lambda: _raw(handler)


@asynccontextmanager
async def _redirecting(to: Callable[[str], str], status: int = 307) -> AsyncIterator[str]:
    async with serve(hostile.redirect(lambda request: to(str(request.url)), status)) as url:
        yield url


def redirecting(to: Callable[[str], str], status: int = 307) -> Target:
    """A server redirecting every request to `to(request URL)`."""
    return lambda: _redirecting(to, status)


def _swap_host(url: str, host: str) -> str:
    return url.replace("127.0.0.1", host, 1)


@asynccontextmanager
async def _legacy(**options: Any) -> AsyncIterator[str]:
    async with hostile.serve_routes(hostile.legacy_sse(**options)) as base:
        yield f"{base}/sse"


def legacy(**options: Any) -> Target:
    """A legacy HTTP+SSE server."""
    return lambda: _legacy(**options)


def raw_mcp_answering(method: str, data: bytes) -> Target:
    """A keep-alive raw server answering `method` with `data` (%(id)d: the request id)."""

    def override(_request: hostile.Request, message: dict[str, Any]) -> bytes | None:
        if message.get("method") == method:
            return data.replace(b"%(id)d", str(message["id"]).encode())
        return None

    return raw(hostile.raw_mcp(override))


def with_session_id(value: bytes) -> Target:
    """Initialize answered correctly but with `value` as Mcp-Session-Id."""
    body = INIT_RESULT
    return raw_mcp_answering(
        "initialize",
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nMcp-Session-Id: "
        + value
        + b"\r\nContent-Length: %d\r\n\r\n" % (len(body) - len(b"%(id)d") + 1)
        + body,
    )


CASES: list[tuple[str, Target, str, tuple[str, str, str]]] = [
    ("slowloris_head", raw(hostile.slowloris_head(0.05)), "hostile", (UP, "initialize", "timeout")),
    ("slowloris_body", raw(hostile.slowloris_body(0.05)), "hostile", (UP, "initialize", "timeout")),
    ("no_answer", raw(hostile.never_answers()), "hostile", (UP, "initialize", "timeout")),
    (
        "tls_never_handshakes",
        lambda: hostile.silent_listener(scheme="https"),
        "hostile",
        (UP, "tls", "timeout"),
    ),
    (
        "sse_never_answers",
        fake(hostile.sse_never_answers()),
        "hostile",
        (UP, "tools_list", "timeout"),
    ),
    (
        "sse_endless_events",
        fake(hostile.sse_flood()),
        "hostile",
        (UP, "tools_list", "response_too_large"),
    ),
    (
        "sse_endless_blank_lines",
        fake(hostile.sse_blank_line_flood()),
        "hostile",
        (UP, "tools_list", "response_too_large"),
    ),
    (
        "gigantic_json_chunked",
        fake(hostile.gigantic_json(2 * 1024 * 1024)),
        "hostile",
        (UP, "initialize", "response_too_large"),
    ),
    (
        "gigantic_content_length",
        raw(hostile.huge_content_length()),
        "hostile",
        (UP, "initialize", "response_too_large"),
    ),
    (
        "deeply_nested_json",
        fake(
            hostile.json_answer(
                "initialize",
                b'{"jsonrpc":"2.0","id":%(id)d,"result":' + hostile.nested(100_000).encode() + b"}",
            )
        ),
        "hostile",
        (UP, "initialize", "jsonrpc_invalid"),
    ),
    (
        "nested_just_parseable_id",
        fake(
            hostile.json_answer(
                "initialize",
                b'{"jsonrpc":"2.0","id":' + hostile.nested(900).encode() + b',"result":{}}',
            )
        ),
        "hostile",
        (UP, "initialize", "jsonrpc_invalid"),
    ),
    (
        "invalid_utf8_json",
        fake(hostile.json_answer("initialize", INIT_RESULT.replace(b"NAME", b"\xff\xfe\xc3"))),
        "hostile",
        (UP, "initialize", "not_mcp"),
    ),
    (
        "response_id_mismatch_json",
        fake(hostile.json_answer("initialize", INIT_RESULT.replace(b"%(id)d", b"999"))),
        "hostile",
        (UP, "initialize", "jsonrpc_invalid"),
    ),
    (
        "response_id_mismatch_sse",
        fake(
            hostile.sse_answer(
                "tools/list",
                b'event: message\ndata: {"jsonrpc":"2.0","id":"x","result":{"tools":[]}}\n\n',
            )
        ),
        "hostile",
        (UP, "tools_list", "jsonrpc_invalid"),
    ),
    (
        "batch_instead_of_object",
        fake(hostile.json_answer("initialize", b"[" + INIT_RESULT + b"]")),
        "hostile",
        (UP, "initialize", "jsonrpc_invalid"),
    ),
    (
        "batch_instead_of_object_sse",
        fake(hostile.sse_answer("initialize", b"data: [" + INIT_RESULT + b"]\n\n")),
        "hostile",
        (UP, "initialize", "jsonrpc_invalid"),
    ),
    ("redirect_loop", redirecting(lambda url: url), "hostile", (UP, "initialize", "http_status")),
    (
        "redirect_to_https",
        redirecting(lambda url: url.replace("http:", "https:", 1)),
        "hostile",
        (UP, "initialize", "http_status"),
    ),
    (
        "redirect_to_other_host",
        redirecting(lambda url: _swap_host(url, "localhost")),
        "hostile",
        (UP, "initialize", "http_status"),
    ),
    (
        "redirect_to_invalid_host",
        redirecting(lambda url: _swap_host(url, "mcp.invalid")),
        "hostile",
        (UP, "initialize", "http_status"),
    ),
    (
        "redirect_post_to_get",
        redirecting(lambda url: url + "/elsewhere", status=303),
        "hostile",
        (UP, "initialize", "http_status"),
    ),
    ("reset_mid_body", raw(hostile.reset_mid_body()), "hostile", (UP, "initialize", "http_status")),
    (
        "empty_200_json",
        fake(hostile.json_answer("initialize", b"")),
        "hostile",
        (UP, "initialize", "not_mcp"),
    ),
    (
        "empty_200_event_stream",
        fake(hostile.sse_answer("initialize", b"")),
        "hostile",
        (UP, "initialize", "sse_protocol_error"),
    ),
    (
        "empty_200_no_content_type",
        raw(hostile.raw_response(hostile.head("200 OK", {"Content-Length": "0"}))),
        "hostile",
        (UP, "initialize", "not_mcp"),
    ),
    (
        "huge_header",
        raw(hostile.raw_response(hostile.head("200 OK", {"X-Big": "a" * 100_000}))),
        "hostile",
        (UP, "initialize", "response_too_large"),
    ),
    (
        "many_headers",
        raw(hostile.raw_response(hostile.head("200 OK", {f"X-{i}": "a" for i in range(5000)}))),
        "hostile",
        (UP, "initialize", "response_too_large"),
    ),
    (
        "status_code_not_ascii",
        raw(hostile.raw_response("HTTP/1.1 ²00 OK\r\n\r\n".encode("latin-1"))),
        "hostile",
        (UP, "initialize", "not_mcp"),
    ),
    (
        "chunk_size_line_huge",
        raw(
            hostile.raw_response(
                hostile.head(
                    "200 OK",
                    {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                )
                + b"1;"
                # Past h11's 100 KiB bound on a framing line.
                + b"e" * 200_000
                + b"\r\n{\r\n0\r\n\r\n"
            )
        ),
        "hostile",
        (UP, "initialize", "response_too_large"),
    ),
    (
        "chunk_size_not_hex",
        raw(
            hostile.raw_response(
                hostile.head(
                    "200 OK",
                    {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                )
                + b"-0x1\r\n{\r\n0\r\n\r\n"
            )
        ),
        "hostile",
        (UP, "initialize", "http_status"),
    ),
    (
        "session_id_with_space",
        with_session_id(b"abc def"),
        "hostile",
        (UP, "initialize", "initialize_invalid"),
    ),
    (
        "session_id_not_ascii",
        with_session_id("sessión".encode("latin-1")),
        "hostile",
        (UP, "initialize", "initialize_invalid"),
    ),
    (
        "session_id_control_character",
        with_session_id(b"abc\x7fdef"),
        "hostile",
        (UP, "initialize", "initialize_invalid"),
    ),
    (
        "legacy_no_endpoint_event",
        legacy(endpoint=b""),
        "hostile_sse",
        (UP, "sse_connect", "timeout"),
    ),
    (
        "legacy_endpoint_not_a_url",
        legacy(endpoint=b"http://[::1"),
        "hostile_sse",
        (UP, "sse_connect", "sse_protocol_error"),
    ),
    (
        "legacy_stream_closed_mid_conversation",
        legacy(close_on="tools/list"),
        "hostile_sse",
        (UP, "tools_list", "sse_protocol_error"),
    ),
    (
        # A metric value: no float holds a 400-digit integer (the answer was a 500).
        "error_code_beyond_64_bits",
        fake(
            hostile.json_answer(
                "initialize",
                b'{"jsonrpc":"2.0","id":%(id)d,"error":{"code":-'
                + b"9" * 400
                + b',"message":"x"}}',
            )
        ),
        "hostile",
        (UP, "initialize", "jsonrpc_invalid"),
    ),
    (
        # A space or a control character cannot go on the request line (it was `internal`).
        "redirect_location_with_space",
        redirecting(lambda url: url + " x"),
        "hostile",
        (UP, "initialize", "http_status"),
    ),
    (
        "redirect_location_with_control_character",
        raw(
            hostile.raw_response(
                hostile.head(
                    "307 Temporary Redirect", {"Location": "/mcp\x01", "Content-Length": "0"}
                )
            )
        ),
        "hostile",
        (UP, "initialize", "http_status"),
    ),
    (
        "legacy_endpoint_with_space",
        legacy(endpoint=b"/messages x"),
        "hostile_sse",
        (UP, "sse_connect", "sse_protocol_error"),
    ),
    (
        "legacy_endpoint_not_ascii",
        legacy(endpoint="/méssages".encode()),
        "hostile_sse",
        (UP, "sse_connect", "sse_protocol_error"),
    ),
]


async def assert_contained(
    exporter: Exporter, metrics: dict[str, float], budget: float, good: Peer
) -> None:
    """The probe kept to its timeout; the exporter is alive and still probes well."""
    assert metrics["probe_timeout_seconds"] == pytest.approx(budget)
    assert metrics["probe_duration_seconds"] <= budget + MARGIN
    status, _ = await exporter.get("/-/healthy")
    assert status == 200
    after = await exporter.probe(good.url, "mcp")
    assert after["probe_success"] == 1, failure(after)


@pytest.mark.parametrize(
    ("target", "module", "expected"),
    [pytest.param(t, m, e, id=name) for name, t, m, e in CASES],
)
async def test_hostile_target(
    make_exporter: ExporterFactory,
    sdk_stateful: Peer,
    target: Target,
    module: str,
    expected: tuple[str, str, str],
) -> None:
    """A hostile target fails the probe in time, with the exact hop, phase and reason."""
    exporter = await make_exporter(CONFIG)
    async with target() as url:
        started = time.monotonic()
        m = await exporter.probe(url, module)
        elapsed = time.monotonic() - started
    assert m["probe_success"] == 0
    assert failure(m) == expected
    assert elapsed <= TIMEOUT + MARGIN + 0.5
    await assert_contained(exporter, m, TIMEOUT, sdk_stateful)


@pytest.mark.parametrize("sse", [False, True], ids=["json", "event_stream"])
async def test_http10_close_delimited_bodies_work(
    make_exporter: ExporterFactory, sdk_stateful: Peer, sse: bool
) -> None:
    """An HTTP/1.0 server whose bodies end at connection close passes the whole probe."""
    exporter = await make_exporter(CONFIG)
    async with hostile.raw_serve(hostile.http10(sse)) as server:
        m = await exporter.probe(server.url, "hostile")
    assert m["probe_success"] == 1, failure(m)
    assert m["probe_mcp_tools"] == 1
    # One connection per request: initialize, initialized, tools/list.
    assert server.connections == 3
    await assert_contained(exporter, m, TIMEOUT, sdk_stateful)


async def test_invalid_utf8_in_event_stream_is_replaced(
    make_exporter: ExporterFactory, sdk_stateful: Peer
) -> None:
    """Invalid UTF-8 in an event stream decodes with U+FFFD (as the SSE standard says)."""
    exporter = await make_exporter(CONFIG)
    body = b"event: message\ndata: " + INIT_RESULT.replace(b"NAME", b"bad\xff") + b"\n\n"
    async with serve(hostile.sse_answer("initialize", body)) as url:
        m = await exporter.probe(url, "hostile")
    assert m["probe_success"] == 1, failure(m)
    assert any('server_name="bad\ufffd"' in key for key in m)
    await assert_contained(exporter, m, TIMEOUT, sdk_stateful)


async def test_trailing_slash_redirect_is_followed(
    make_exporter: ExporterFactory, sdk_stateful: Peer
) -> None:
    """A redirect within the origin that keeps the method (/mcp -> /mcp/) is followed."""
    exporter = await make_exporter(CONFIG)
    routes = {
        "/mcp": hostile.redirect(lambda request: "/mcp/"),
        "/mcp/": hostile.mcp_server(),
    }
    async with hostile.serve_routes(routes) as base:
        m = await exporter.probe(f"{base}/mcp", "hostile")
    assert m["probe_success"] == 1, failure(m)
    assert m["probe_http_status_code"] == 200
    await assert_contained(exporter, m, TIMEOUT, sdk_stateful)


async def test_cross_origin_redirect_sends_nothing_there(
    make_exporter: ExporterFactory, sdk_stateful: Peer
) -> None:
    """A redirect to another origin is reported, and the other origin receives no request."""
    seen: list[str] = []

    async def record(request: web.Request) -> web.StreamResponse:
        seen.append(request.method)
        return web.Response(status=500)

    exporter = await make_exporter(CONFIG)
    async with serve(record) as other, serve(hostile.redirect(lambda _request: other)) as url:
        m = await exporter.probe(url, "hostile")
        status, debug = await exporter.get("/probe", target=url, module="hostile", debug="true")
    assert failure(m) == (UP, "initialize", "http_status")
    assert m["probe_http_status_code"] == 307
    assert seen == []
    assert status == 200
    assert "not followed" in debug
    await assert_contained(exporter, m, TIMEOUT, sdk_stateful)


# --- HTTP/2 misbehaviour: h2's complaints about the server are the server's, never `internal` ---

H2_CONFIG = f"""
modules:
  mcp:
    prober: mcp
    timeout: 10s
  h2:
    prober: mcp
    timeout: {TIMEOUT}s
    mcp:
      transport: streamable_http
      http_client: {{http_version: 2}}
      {LIMITS}
"""
H2_EXPECTED = {
    "status_not_a_number": "http_status",
    "oversized_header_block": "response_too_large",
    "push_promise": "http_status",
    "invalid_settings": "http_status",
    "length_lie_in_body": "http_status",
}


@pytest.mark.parametrize("how", hostile.H2_MISBEHAVIOURS)
async def test_http2_misbehaviour(
    make_exporter: ExporterFactory, sdk_stateful: Peer, how: str
) -> None:
    """An HTTP/2 server sending what h2 refuses (a :status that is no number, a header block
    past h2's limit, a push the client disabled, invalid settings, a body longer than its
    content-length) fails initialize at the target's hop, with a documented reason."""
    exporter = await make_exporter(H2_CONFIG)
    async with hostile.h2_server(how) as url:
        m = await exporter.probe(url, "h2")
        _, debug = await exporter.get("/probe", target=url, module="h2", debug="true")
    assert failure(m) == (UP, "initialize", H2_EXPECTED[how])
    assert "HTTP/2" in debug
    await assert_contained(exporter, m, TIMEOUT, sdk_stateful)


# --- TLS ---------------------------------------------------------------------------------------


def tls_config(module: str, timeout: float = TIMEOUT, **options: object) -> str:
    """A config with one module using `options` as its tls_config."""
    lines = "".join(f"\n        {key}: {json.dumps(str(value))}" for key, value in options.items())
    block = f"\n      tls_config:{lines}" if options else ""
    return f"""
modules:
  mcp:
    prober: mcp
    timeout: 10s
  {module}:
    prober: mcp
    timeout: {timeout}s
    mcp:
      transport: streamable_http{block}
"""


@pytest.fixture
def tls(tmp_path: Path) -> hostile.TLSFiles:
    """A fresh CA in a temporary directory."""
    return hostile.tls_files(tmp_path)


async def _probe_tls(
    make_exporter: ExporterFactory, context: ssl.SSLContext, **options: object
) -> tuple[Exporter, dict[str, float]]:
    exporter = await make_exporter(tls_config("tls", TIMEOUT, **options))
    async with hostile.serve_tls(hostile.mcp_server(), context) as url:
        return exporter, await exporter.probe(url, "tls")


async def test_tls_good_server_reports_expiry_and_version(
    make_exporter: ExporterFactory, tls: hostile.TLSFiles, sdk_stateful: Peer
) -> None:
    """A server with a certificate from the module's CA works; expiry and version are exported."""
    cert = tls.ca.issue_cert("127.0.0.1")
    exporter, m = await _probe_tls(make_exporter, tls.server_context(cert), ca_file=tls.ca_file)
    assert m["probe_success"] == 1, failure(m)
    der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
    from cryptography import x509

    not_after = x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
    assert m["probe_ssl_earliest_cert_expiry"] == not_after
    assert m['probe_tls_version_info{version="TLSv1.3"}'] == 1
    assert m['probe_mcp_phase_duration_seconds{phase="tls"}'] > 0
    await assert_contained(exporter, m, TIMEOUT, sdk_stateful)


async def test_tls_expired_certificate(
    make_exporter: ExporterFactory, tls: hostile.TLSFiles, tmp_path: Path, sdk_stateful: Peer
) -> None:
    """An expired certificate fails in the tls phase; skipping verification still reports it."""
    expired_at = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    context = hostile.mint_cert(tmp_path, "expired", not_after=expired_at, issuer=tls)
    exporter, m = await _probe_tls(make_exporter, context, ca_file=tls.ca_file)
    assert failure(m) == (UP, "tls", "tls")
    await assert_contained(exporter, m, TIMEOUT, sdk_stateful)

    exporter, m = await _probe_tls(make_exporter, context, insecure_skip_verify=True)
    assert m["probe_success"] == 1, failure(m)
    assert m["probe_ssl_earliest_cert_expiry"] == expired_at.timestamp()


async def test_tls_self_signed_certificate(
    make_exporter: ExporterFactory, tmp_path: Path, sdk_stateful: Peer
) -> None:
    """A self-signed certificate fails in the tls phase unless verification is skipped."""
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)
    context = hostile.mint_cert(tmp_path, "self", not_after=later)
    exporter, m = await _probe_tls(make_exporter, context)
    assert failure(m) == (UP, "tls", "tls")
    await assert_contained(exporter, m, TIMEOUT, sdk_stateful)

    exporter, m = await _probe_tls(make_exporter, context, insecure_skip_verify=True)
    assert m["probe_success"] == 1, failure(m)
    assert m["probe_ssl_earliest_cert_expiry"] == int(later.timestamp())

    # Trusting the certificate itself works too.
    exporter, m = await _probe_tls(make_exporter, context, ca_file=tmp_path / "self.crt")
    assert m["probe_success"] == 1, failure(m)


async def test_tls_certificate_for_another_name(
    make_exporter: ExporterFactory, tls: hostile.TLSFiles, sdk_stateful: Peer
) -> None:
    """A certificate for another name fails in the tls phase; server_name makes it match."""
    context = tls.server_context(tls.ca.issue_cert("mcp.test"))
    exporter, m = await _probe_tls(make_exporter, context, ca_file=tls.ca_file)
    assert failure(m) == (UP, "tls", "tls")
    await assert_contained(exporter, m, TIMEOUT, sdk_stateful)

    exporter, m = await _probe_tls(
        make_exporter, context, ca_file=tls.ca_file, server_name="mcp.test"
    )
    assert m["probe_success"] == 1, failure(m)


async def test_tls_client_certificate(
    make_exporter: ExporterFactory, tls: hostile.TLSFiles, sdk_stateful: Peer
) -> None:
    """A server requiring a client certificate accepts the module's cert_file/key_file."""
    context = tls.server_context(tls.ca.issue_cert("127.0.0.1"))
    context.verify_mode = ssl.CERT_REQUIRED
    tls.ca.configure_trust(context)
    exporter = await make_exporter(tls_config("tls", ca_file=tls.ca_file))
    with hostile.tls_rejecting_client_certs(context) as url:
        m = await exporter.probe(url, "tls")
    # TLS 1.3 reports a missing client certificate after the handshake, on the first read.
    assert failure(m) == (UP, "tls", "tls")
    await assert_contained(exporter, m, TIMEOUT, sdk_stateful)

    cert_file, key_file = tls.write_pair(tls.ca.issue_cert("probe@mcp.test"), "client")
    exporter, m = await _probe_tls(
        make_exporter, context, ca_file=tls.ca_file, cert_file=cert_file, key_file=key_file
    )
    assert m["probe_success"] == 1, failure(m)


# --- untrusted text: surrogates, control characters, anything a target can send -----------------

SURROGATE = "\ud800"
# A lone surrogate, an ANSI escape that would recolour a terminal, a NUL, C1 and bidi controls.
ODD_TEXT = f"a{SURROGATE}b\x1b[31mred\x00\x85\u202e\udfff"


def promtool_check(text: str) -> None:
    """`promtool check metrics` accepts the exposition text."""
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=text.encode(), capture_output=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def all_surfaces(exporter: Exporter, url: str, module: str) -> str:
    """Every surface a probe's text reaches, each answered 200: metrics (promtool-clean), debug
    output, the probe's log and the landing page."""
    status, metrics = await exporter.get("/probe", target=url, module=module)
    assert status == 200, metrics
    promtool_check(metrics)
    status, debug = await exporter.get("/probe", target=url, module=module, debug="true")
    assert status == 200, debug
    newest = exporter.state.history.recent()[0].id
    status, log = await exporter.get("/logs", id=str(newest))
    assert status == 200, log
    status, landing = await exporter.get("/")
    assert status == 200, landing
    text = f"{metrics}\n{debug}\n{log}\n{landing}"
    for bad in (SURROGATE, "\udfff", "\x1b", "\x00", "\x85"):
        assert bad not in text
    return text


ODD_TEXT_CASES: list[tuple[str, Handler, tuple[str, str, str] | None]] = [
    (
        "server_name",
        hostile.scripted({"initialize": hostile.init_outcome(name=ODD_TEXT, version="1")}),
        None,
    ),
    (
        "server_version",
        hostile.scripted({"initialize": hostile.init_outcome(name="n", version=ODD_TEXT)}),
        None,
    ),
    (
        "server_name_sse",
        hostile.scripted({"initialize": hostile.init_outcome(name=ODD_TEXT, version="1")}, "sse"),
        None,
    ),
    (
        "tool_description",
        hostile.scripted(
            {"tools/list": {"result": {"tools": [{**hostile.TOOLS[0], "description": ODD_TEXT}]}}}
        ),
        None,
    ),
    (
        "tool_name",
        hostile.scripted(
            {"tools/list": {"result": {"tools": [{**hostile.TOOLS[0], "name": ODD_TEXT}]}}}
        ),
        None,
    ),
    (
        "error_message",
        hostile.scripted({"tools/list": {"error": {"code": -32603, "message": ODD_TEXT}}}),
        (UP, "tools_list", "jsonrpc_error"),
    ),
    (
        "error_message_sse",
        hostile.scripted({"tools/list": {"error": {"code": -32603, "message": ODD_TEXT}}}, "sse"),
        (UP, "tools_list", "jsonrpc_error"),
    ),
    (
        "surrogate_key",
        hostile.scripted({"tools/list": {"result": {"tools": [], SURROGATE: ODD_TEXT}}}),
        None,
    ),
]


@pytest.mark.parametrize(
    ("handler", "expected"), [pytest.param(h, e, id=name) for name, h, e in ODD_TEXT_CASES]
)
async def test_odd_text_is_safe_on_every_surface(
    make_exporter: ExporterFactory,
    handler: Handler,
    expected: tuple[str, str, str] | None,
) -> None:
    """Lone surrogates and control characters from a target never make an endpoint fail: the
    verdict is the one a clean server gets, and every surface shows U+FFFD instead."""
    exporter = await make_exporter(CONFIG)
    async with serve(handler) as url:
        m = await exporter.probe(url, "hostile")
        assert failure(m) == expected
        assert m["probe_success"] == (1 if expected is None else 0)
        text = await all_surfaces(exporter, url, "hostile")
    if expected is not None:
        assert "a\ufffdb" in text  # the error message, shown with the surrogate replaced


async def test_odd_server_name_label_is_replaced_and_bounded(
    make_exporter: ExporterFactory,
) -> None:
    """A server name with odd characters becomes a label with U+FFFD for each, at most 256
    characters long."""
    exporter = await make_exporter(CONFIG)
    name = ODD_TEXT + "x" * 1000
    async with serve(
        hostile.scripted({"initialize": hostile.init_outcome(name=name, version="1")})
    ) as url:
        m = await exporter.probe(url, "hostile")
    (key,) = [k for k in m if k.startswith("probe_mcp_server_info")]
    label = key.split('server_name="', 1)[1].split('"', 1)[0]
    assert label.startswith("a\ufffdb\ufffd[31mred\ufffd\ufffd\u202e\ufffdxxx")
    assert len(label) <= 256


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
async def test_one_shot_cli_with_odd_text(tmp_path: Path, as_json: bool) -> None:
    """The one-shot command reports a server full of odd text without a traceback: exit code 1
    for the failing step, and output that is valid UTF-8 (and valid JSON with --json)."""
    outcomes = {
        "initialize": hostile.init_outcome(name=ODD_TEXT, version=ODD_TEXT),
        "tools/list": {"error": {"code": -32603, "message": ODD_TEXT}},
    }
    config = tmp_path / "c.yml"
    config.write_text(CONFIG)
    async with serve(hostile.scripted(outcomes)) as url:
        args = ["probe", url, "--config.file", str(config), "--module", "hostile"]
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "exporter",
            *args,
            *(["--json"] if as_json else []),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1, stderr.decode(errors="replace")
    assert b"Traceback" not in stderr + stdout
    out = stdout.decode("utf-8")  # strict: the output is valid UTF-8
    assert "\x1b" not in out
    if as_json:
        data = json.loads(out)
        assert data["failure"]["reason"] == "jsonrpc_error"
        assert data["server"]["name"].startswith("a\ufffdb")
    else:
        assert "jsonrpc_error" in out
        assert "a\ufffdb" in out


async def test_odd_bytes_in_headers_and_error_bodies(make_exporter: ExporterFactory) -> None:
    """Control bytes and invalid UTF-8 (an encoded surrogate) in a challenge header and an error
    body fail the probe with the usual reason and leave every surface clean."""
    body = b"denied \x1b[31m\xed\xa0\x80\x00 " + "\u202e".encode()
    data = (
        hostile.head(
            "401 Unauthorized",
            {
                "WWW-Authenticate": 'Bearer error="invalid_token\x1b[0m\xff"',
                "X-Odd": "\x1b]0;title\x07\x85",
                "Content-Length": str(len(body)),
            },
        )
        + body
    )
    exporter = await make_exporter(CONFIG)
    async with hostile.raw_serve(hostile.raw_response(data)) as server:
        m = await exporter.probe(server.url, "hostile")
        assert failure(m) == (UP, "initialize", "auth_required")
        text = await all_surfaces(exporter, server.url, "hostile")
    assert "denied \ufffd[31m" in text


# --- secrets: what the probe sent never comes back out -----------------------------------------

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwcm9iZSJ9.c2VjcmV0LXNpZ25hdHVyZS0xMjM0NTY3ODkw"
QUERY_KEY = "qs-Secret-4f1e2d3c"
SECRET_CONFIG = f"""
modules:
  bearer:
    prober: mcp
    timeout: {TIMEOUT}s
    mcp:
      transport: streamable_http
      bearer_token: {TOKEN}
      steps: [tools_list]
"""


def assert_no_secret(text: str) -> None:
    """No credential, nor a telling piece of one, in `text`."""
    for secret in (TOKEN, QUERY_KEY):
        assert secret not in text
        assert secret[:12] not in text
        assert secret[-12:] not in text


async def test_echoed_credentials_never_reach_any_surface(
    make_exporter: ExporterFactory, tmp_path: Path
) -> None:
    """A server echoing the bearer token and the target's ?api_key= into serverInfo and its
    errors: no surface (labels, debug, /logs, landing page, the one-shot report) shows either,
    and the target is shown without its query string."""
    exporter = await make_exporter(SECRET_CONFIG)
    async with serve(hostile.echoing_credentials()) as base:
        url = f"{base}?api_key={QUERY_KEY}&region=eu"
        m = await exporter.probe(url, "bearer")
        assert failure(m) == (UP, "tools_list", "jsonrpc_error")
        (info,) = [k for k in m if k.startswith("probe_mcp_server_info")]
        assert 'server_name="srv <secret> api_key=<secret>&region=eu"' in info
        text = await all_surfaces(exporter, url, "bearer")
        config = tmp_path / "secret.yml"
        config.write_text(SECRET_CONFIG)
        for as_json in (False, True):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "exporter",
                "probe",
                url,
                "--config.file",
                str(config),
                "--module",
                "bearer",
                *(["--json"] if as_json else []),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 1, stderr
            text += stdout.decode() + stderr.decode()
    assert_no_secret(text)
    assert "cannot list for <secret> api_key=<secret>" in text
    # The target is shown without its query, also in the replay commands: there the query is a
    # variable the operator sets (the request needs it; it may carry credentials).
    assert f"{base}?" not in text
    assert '"$MCP_QUERY"' in text
    assert base in text


async def test_echoed_credential_in_an_error_body_is_scrubbed_before_the_cut(
    make_exporter: ExporterFactory,
) -> None:
    """An error body echoing the token right where the excerpt is cut leaves no piece of it."""
    exporter = await make_exporter(SECRET_CONFIG.replace("[tools_list]", "[ping]"))

    async def respond(request: web.Request, _message: dict[str, Any]) -> web.StreamResponse:
        return web.Response(status=500, text="y" * 280 + request.headers["Authorization"])

    async with serve(hostile.on_method("ping", respond)) as url:
        m = await exporter.probe(url, "bearer")
        assert failure(m) == (UP, "ping", "http_status")
        assert_no_secret(await all_surfaces(exporter, url, "bearer"))


# --- the server's own requests on the response stream -----------------------------------------

ASKS_BACK_CONFIG = """
modules:
  asks_back:
    prober: mcp
    timeout: 10s
    mcp:
      transport: {transport}
      protocol_version: "{version}"
      steps: [tool_call]
      tool_call:
        name: asks_back
        expect:
          text_regex: "^ping=ok sampling=-32601 elicitation=-32601$"
"""


@pytest.fixture(scope="module")
def sdk_asking_stateful() -> Iterator[Peer]:
    """SDK server (stateful, SSE answers) with a tool that sends ping, sampling and elicitation
    requests to the client mid-call."""
    peer = start_sdk("stateful", asks_back=True)
    yield peer
    peer.stop()


@pytest.fixture(scope="module")
def sdk_asking_legacy() -> Iterator[Peer]:
    """The same tool over the legacy HTTP+SSE transport."""
    peer = start_sdk("sse", asks_back=True)
    yield peer
    peer.stop()


@pytest.mark.parametrize("legacy_transport", [False, True], ids=["streamable_http", "sse"])
async def test_sdk_server_requests_mid_tool_call_are_answered(
    make_exporter: ExporterFactory,
    sdk_asking_stateful: Peer,
    sdk_asking_legacy: Peer,
    legacy_transport: bool,
) -> None:
    """A real SDK server that pings the client and asks for sampling and elicitation in the
    middle of a tool call gets a result for the ping and -32601 for the rest, promptly: the
    tool finishes, the probe succeeds, and debug output notes each request."""
    transport, version, peer = (
        ("sse", "2024-11-05", sdk_asking_legacy)
        if legacy_transport
        else ("streamable_http", "2025-11-25", sdk_asking_stateful)
    )
    exporter = await make_exporter(ASKS_BACK_CONFIG.format(transport=transport, version=version))
    m = await exporter.probe(peer.url, "asks_back")
    assert m["probe_success"] == 1, failure(m)
    assert m['probe_mcp_phase_duration_seconds{phase="tool_call"}'] < 2
    status, debug = await exporter.get("/probe", target=peer.url, module="asks_back", debug="true")
    assert status == 200
    assert (
        "the server sent a ping request during tool_call; answered with its empty result" in debug
    )
    for method in ("sampling/createMessage", "elicitation/create"):
        assert (
            f"the server sent a {method} request during tool_call; answered with error -32601"
            in (debug)
        )


def _request(request_id: object, method: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {}}


async def test_server_requests_the_sdk_cannot_send(make_exporter: ExporterFactory) -> None:
    """roots/list (never declared) and an unknown method get -32601 and ping its result, each
    posted with the session's headers, and the server that waits for them finishes the list."""
    seen = hostile.AskingServer()
    requests = [
        _request("p-1", "ping"),
        _request(7, "roots/list"),
        _request(8, "vendor/whatever"),
        {"jsonrpc": "2.0", "method": "notifications/message", "params": {}},
    ]
    exporter = await make_exporter(CONFIG)
    async with serve(hostile.asks_back(requests, seen)) as url:
        m = await exporter.probe(url, "hostile")
        _, debug = await exporter.get("/probe", target=url, module="hostile", debug="true")
    assert m["probe_success"] == 1, failure(m)
    assert seen.answers["p-1"] == {"jsonrpc": "2.0", "id": "p-1", "result": {}}
    for request_id in (7, 8):
        assert seen.answers[request_id]["error"]["code"] == -32601
    for headers in seen.answer_headers:
        assert headers["Mcp-Session-Id"] == "session-1"
        assert headers["MCP-Protocol-Version"] == "2025-11-25"
        assert headers["Content-Type"] == "application/json"
    assert "the server sent a roots/list request during tools_list; answered with error" in debug
    assert "vendor/whatever" in debug


async def test_server_requests_with_unusable_ids_or_in_a_flood(
    make_exporter: ExporterFactory,
) -> None:
    """A request whose id is not a string or integer (true, an object) is not answered, and a
    flood of pings is answered only up to a bound: the probe never becomes a request storm."""
    seen = hostile.AskingServer()
    requests = [
        _request(True, "ping"),
        _request({"x": 1}, "ping"),
        *(_request(f"n-{i}", "ping") for i in range(100)),
    ]
    exporter = await make_exporter(CONFIG)
    async with serve(hostile.asks_back(requests, seen, wait_for=0)) as url:
        status, debug = await exporter.get("/probe", target=url, module="hostile", debug="true")
    assert status == 200
    assert "probe_success 1" in debug
    assert True not in seen.answers
    assert len(seen.answers) == 30  # 32 handled: the two unusable ids, then 30 pings
    assert "with an invalid id; not answered" in debug
    assert "the rest were not answered" in debug


# --- false success: only what the MCP schema describes counts ----------------------------------

ALL_CAPABILITIES: dict[str, dict[str, Any]] = {"tools": {}, "resources": {}, "prompts": {}}
SCHEMA_CONFIG = f"""
modules:
  schema:
    prober: mcp
    timeout: {TIMEOUT}s
    mcp:
      transport: streamable_http
      steps: [tools_list, resources_list, prompts_list, tool_call]
      tool_call: {{name: echo}}
"""
GOOD_LISTS: dict[str, dict[str, Any]] = {
    "initialize": {
        "result": {
            "protocolVersion": "2025-11-25",
            "capabilities": ALL_CAPABILITIES,
            "serverInfo": {"name": "s", "version": "1"},
        }
    },
    "tools/list": {"result": {"tools": hostile.TOOLS}},
    "resources/list": {"result": {"resources": [{"uri": "test://a", "name": "a"}]}},
    "prompts/list": {"result": {"prompts": [{"name": "p", "arguments": [{"name": "x"}]}]}},
    "tools/call": {"result": {"content": [{"type": "text", "text": "ok"}], "isError": False}},
}


def _init(**changes: Any) -> dict[str, Any]:
    result = {**GOOD_LISTS["initialize"]["result"], **changes}
    return {"initialize": {"result": {k: v for k, v in result.items() if v is not None}}}


SCHEMA_CASES: list[tuple[str, dict[str, dict[str, Any]], str, str, str]] = [
    ("valid", {}, "", "", ""),
    (
        "tools_of_wrong_types",
        {"tools/list": {"result": {"tools": [{"name": 42}, "x", None, {}]}}},
        "tools_list",
        "jsonrpc_invalid",
        "tools/list result: tools[0].name: not a string (a number)",
    ),
    (
        "tool_not_an_object",
        {"tools/list": {"result": {"tools": [hostile.TOOLS[0], "x"]}}},
        "tools_list",
        "jsonrpc_invalid",
        "tools[1]: not an object (a string)",
    ),
    (
        "next_cursor_not_a_string",
        {"tools/list": {"result": {"tools": [], "nextCursor": 5}}},
        "tools_list",
        "jsonrpc_invalid",
        "nextCursor: not a string",
    ),
    (
        "resource_without_uri",
        {"resources/list": {"result": {"resources": [{"name": "a"}]}}},
        "resources_list",
        "jsonrpc_invalid",
        "resources[0]: lacks uri",
    ),
    (
        "prompt_argument_without_name",
        {"prompts/list": {"result": {"prompts": [{"name": "p", "arguments": [{}]}]}}},
        "prompts_list",
        "jsonrpc_invalid",
        "prompts[0].arguments[0]: lacks name",
    ),
    (
        "call_content_text_not_a_string",
        {"tools/call": {"result": {"content": [{"type": "text", "text": 1}]}}},
        "tool_call",
        "jsonrpc_invalid",
        "content[0].text: not a string",
    ),
    (
        "call_is_error_not_a_boolean",
        {"tools/call": {"result": {"content": [], "isError": "yes"}}},
        "tool_call",
        "jsonrpc_invalid",
        "isError: not a boolean",
    ),
    (
        "call_content_type_unknown",
        {"tools/call": {"result": {"content": [{"type": "video"}]}}},
        "tool_call",
        "jsonrpc_invalid",
        "content[0].type: 'video' is not a content type in 2025-11-25",
    ),
    (
        "resource_link_before_its_revision",
        {
            **_init(protocolVersion="2025-03-26"),
            "tools/call": {
                "result": {"content": [{"type": "resource_link", "uri": "a:b", "name": "n"}]}
            },
        },
        "tool_call",
        "jsonrpc_invalid",
        "content[0].type: 'resource_link' is not a content type in 2025-03-26",
    ),
    (
        "server_website_url_not_a_string",
        _init(serverInfo={"name": "s", "version": "1", "websiteUrl": 1}),
        "initialize",
        "initialize_invalid",
        "serverInfo.websiteUrl: not a string (a number)",
    ),
    (
        "server_info_version_missing",
        _init(serverInfo={"name": "s"}),
        "initialize",
        "initialize_invalid",
        "initialize result: serverInfo: lacks version",
    ),
    (
        "server_info_not_an_object",
        _init(serverInfo=["s", "1"]),
        "initialize",
        "initialize_invalid",
        "serverInfo: not an object (an array)",
    ),
    (
        "capability_not_an_object",
        _init(capabilities={**ALL_CAPABILITIES, "logging": True}),
        "initialize",
        "initialize_invalid",
        "capabilities.logging: not an object (a boolean)",
    ),
    (
        "instructions_not_a_string",
        _init(instructions=["x"]),
        "initialize",
        "initialize_invalid",
        "instructions: not a string",
    ),
    (
        "error_code_boolean",
        {"tools/list": {"error": {"code": True, "message": "x"}}},
        "tools_list",
        "jsonrpc_invalid",
        "error object lacks an integer code",
    ),
    (
        "error_message_missing",
        {"tools/list": {"error": {"code": -32603}}},
        "tools_list",
        "jsonrpc_invalid",
        "error object lacks a string message",
    ),
]


@pytest.mark.parametrize(
    ("outcomes", "phase", "reason", "detail"),
    [pytest.param(o, p, r, d, id=name) for name, o, p, r, d in SCHEMA_CASES],
)
async def test_results_are_checked_against_the_schema(
    make_exporter: ExporterFactory,
    outcomes: dict[str, dict[str, Any]],
    phase: str,
    reason: str,
    detail: str,
) -> None:
    """A result that is not what the MCP schema describes fails the step that read it with
    jsonrpc_invalid (initialize_invalid for initialize), naming the path of the violation."""
    exporter = await make_exporter(SCHEMA_CONFIG)
    async with serve(hostile.scripted({**GOOD_LISTS, **outcomes})) as url:
        m = await exporter.probe(url, "schema")
        _, debug = await exporter.get("/probe", target=url, module="schema", debug="true")
    if not reason:
        assert m["probe_success"] == 1, failure(m)
        assert (m["probe_mcp_tools"], m["probe_mcp_resources"], m["probe_mcp_prompts"]) == (1, 1, 1)
        return
    assert failure(m) == (UP, phase, reason)
    assert detail in debug
    assert "probe_mcp_tools 4" not in debug


@pytest.mark.parametrize("as_sse", [False, True], ids=["json", "event_stream"])
@pytest.mark.parametrize("response_id", ["true", "1.0", '"1"', "null"])
async def test_response_id_must_be_the_request_id(
    make_exporter: ExporterFactory, response_id: str, as_sse: bool
) -> None:
    """A response whose id only compares equal in Python (true, 1.0) or is another type does
    not answer request 1."""
    body = INIT_RESULT.replace(b"%(id)d", response_id.encode())
    handler = (
        hostile.sse_answer("initialize", b"event: message\ndata: " + body + b"\n\n")
        if as_sse
        else hostile.json_answer("initialize", body)
    )
    exporter = await make_exporter(CONFIG)
    async with serve(handler) as url:
        m = await exporter.probe(url, "hostile")
    assert failure(m) == (UP, "initialize", "jsonrpc_invalid")


async def test_legacy_response_id_true_does_not_answer_request_1(
    make_exporter: ExporterFactory,
) -> None:
    """Over legacy SSE too, a response with id true is not taken for request 1's."""
    exporter = await make_exporter(CONFIG)
    async with hostile.serve_routes(hostile.legacy_sse(reply_id=True)) as base:
        m = await exporter.probe(f"{base}/sse", "hostile_sse")
    assert failure(m) == (UP, "initialize", "jsonrpc_invalid")


async def test_two_different_session_ids_are_refused(make_exporter: ExporterFactory) -> None:
    """initialize answered with two different Mcp-Session-Id headers is initialize_invalid (a
    client joining them would send a session id the server never issued); the same id twice
    is accepted."""
    exporter = await make_exporter(CONFIG)
    async with with_session_id(b"first\r\nMcp-Session-Id: second")() as url:
        m = await exporter.probe(url, "hostile")
        _, debug = await exporter.get("/probe", target=url, module="hostile", debug="true")
    assert failure(m) == (UP, "initialize", "initialize_invalid")
    assert "2 different Mcp-Session-Id headers" in debug
    async with with_session_id(b"same\r\nMcp-Session-Id: same")() as url:
        m = await exporter.probe(url, "hostile")
    assert m["probe_success"] == 1, failure(m)


# --- false failure: what the spec allows is accepted -------------------------------------------


def _jwt(length: int) -> str:
    """A JWT-shaped session id (header.payload.signature in base64url) of `length` characters."""
    head = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."
    body = ("eyJzdWIiOiJzZXNzaW9uIn0" * 200)[: length - len(head) - 44]
    return f"{head}{body}.{'S' * 43}"


async def test_long_jwt_session_id_is_accepted(make_exporter: ExporterFactory) -> None:
    """A 1,565-character JWT as Mcp-Session-Id (visible ASCII; the spec sets no length) is
    accepted and sent back on every later request."""
    session_id = _jwt(1565)
    assert len(session_id) == 1565
    seen: list[str | None] = []
    exporter = await make_exporter(CONFIG)
    async with serve(hostile.issues_session(session_id, seen)) as url:
        m = await exporter.probe(url, "hostile")
    assert m["probe_success"] == 1, failure(m)
    assert seen[0] is None
    assert seen[1:] == [session_id] * (len(seen) - 1)
    assert len(seen) >= 3  # initialized, tools/list (and the DELETE is outside the override)


async def test_session_id_limit_is_configurable_and_named(make_exporter: ExporterFactory) -> None:
    """A session id over limits.max_session_id_length fails initialize, naming the limit; the
    default allows a 16,384-character id."""
    exporter = await make_exporter(
        CONFIG
        + """
  short_ids:
    prober: mcp
    timeout: 2s
    mcp:
      transport: streamable_http
      limits: {max_session_id_length: 100}
"""
    )
    async with serve(hostile.issues_session("a" * 101, [])) as url:
        m = await exporter.probe(url, "short_ids")
        _, debug = await exporter.get("/probe", target=url, module="short_ids", debug="true")
    assert failure(m) == (UP, "initialize", "initialize_invalid")
    assert (
        "Mcp-Session-Id is 101 characters long, more than limits.max_session_id_length (100)"
        in debug
    )
    # A raw server: aiohttp's own refuses request headers over 8 KiB.
    async with with_session_id(b"a" * 16384)() as url:
        m = await exporter.probe(url, "mcp")
    assert m["probe_success"] == 1, failure(m)
    async with with_session_id(b"a" * 16385)() as url:
        m = await exporter.probe(url, "mcp")
    assert failure(m) == (UP, "initialize", "initialize_invalid")


async def test_echoed_credential_in_a_response_id_is_not_shown(
    make_exporter: ExporterFactory,
) -> None:
    """A response whose id is the token the probe sent fails as jsonrpc_invalid, and neither the
    token nor a cut piece of it reaches any surface."""

    async def respond(request: web.Request, _message: dict[str, Any]) -> web.StreamResponse:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        return web.json_response({"jsonrpc": "2.0", "id": token, "result": {"tools": []}})

    exporter = await make_exporter(SECRET_CONFIG)
    async with serve(hostile.on_method("tools/list", respond)) as url:
        m = await exporter.probe(url, "bearer")
        assert failure(m) == (UP, "tools_list", "jsonrpc_invalid")
        text = await all_surfaces(exporter, url, "bearer")
    assert "response id of type str does not match request id 2" in text
    assert_no_secret(text)


async def test_exporter_log_stream_has_no_control_characters(
    start_exporter: StartExporter, tmp_path: Path
) -> None:
    """The exporter's own log line for a probe never carries a control character from the
    target's URL (a C1 control, a bidi override stays visible text) to the terminal."""
    config = tmp_path / "c.yml"
    config.write_text(CONFIG)
    process = start_exporter("--config.file", str(config))
    target = quote(f"http://127.0.0.1:{free_port()}/mcp\u0085\u009b31m", safe=":/")
    status, body = await asyncio.to_thread(process.get, f"/probe?target={target}&module=hostile")
    assert status == 200, body
    log = process.stop().encode()
    assert b"event=probe module=hostile" in log, log.decode()
    # The target is requested, and so logged, as the wire carries it: percent-encoded UTF-8.
    assert b"/mcp%C2%85%C2%9B31m" in log
    assert b"\xc2\x85" not in log
    assert b"\xc2\x9b" not in log


TOKEN_ANSWERS = [
    pytest.param(
        hostile.nested(100_000).encode(),
        ("client_to_auth_server", "token", "token_fetch_failed"),
        id="nested_too_deeply",
    ),
    pytest.param(
        b'{"access_token": "t", "token_type": "Bearer", "expires_in": 1' + b"0" * 400 + b"}",
        None,
        id="expires_in_beyond_a_float",
    ),
]


@pytest.mark.parametrize(("answer", "expected"), TOKEN_ANSWERS)
async def test_odd_token_answers(
    make_exporter: ExporterFactory, answer: bytes, expected: tuple[str, str, str] | None
) -> None:
    """A token answer nested past the JSON parser's recursion limit fails the token step like
    any answer without a token; an expires_in no float holds is no expires_in, and the token
    is used (both were `internal`)."""

    async def token(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=answer, content_type="application/json")

    async with hostile.serve_routes({"/token": token, "/mcp": hostile.mcp_server()}) as base:
        exporter = await make_exporter(
            f"""
modules:
  oauth:
    prober: mcp
    timeout: {TIMEOUT}s
    mcp:
      transport: streamable_http
      oauth2: {{client_id: c, client_secret: s, token_url: "{base}/token"}}
"""
        )
        m = await exporter.probe(f"{base}/mcp", "oauth")
    assert failure(m) == expected
