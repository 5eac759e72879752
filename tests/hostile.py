"""Hostile fake servers: what a buggy or malicious target can send back to a probe.

aiohttp fakes (see tests/fakes.py) where a well-framed HTTP answer is enough; raw asyncio servers
where the HTTP framing itself misbehaves (slow bytes, resets, HTTP/1.0, oversized heads, bytes
aiohttp refuses to send). Everything binds 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import hyperframe.frame
import trustme
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fakes import Handler, initialize_result

TOOLS = [
    {"name": "echo", "description": "Echo", "inputSchema": {"type": "object", "properties": {}}}
]


def answer(message: dict[str, Any]) -> dict[str, Any] | None:
    """A correct server's answer to one JSON-RPC message (None for a notification)."""
    method = message.get("method")
    if "id" not in message:
        return None
    if method == "initialize":
        return initialize_result(message["id"])
    if method == "tools/list":
        return {"jsonrpc": "2.0", "id": message["id"], "result": {"tools": TOOLS}}
    return {"jsonrpc": "2.0", "id": message["id"], "result": {}}


# --- aiohttp fakes ----------------------------------------------------------------------------


def mcp_server(
    override: Callable[[web.Request, dict[str, Any]], Awaitable[web.StreamResponse | None]]
    | None = None,
) -> Handler:
    """A correct stateless MCP server whose answers `override` may replace (None: keep)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method == "DELETE":
            return web.Response(status=200)
        if request.method != "POST":
            return web.Response(status=405)
        message = await request.json()
        if override is not None:
            replaced = await override(request, message)
            if replaced is not None:
                return replaced
        reply = answer(message)
        if reply is None:
            return web.Response(status=202)
        return web.json_response(reply)

    return handler


def on_method(
    method: str, respond: Callable[[web.Request, dict[str, Any]], Awaitable[web.StreamResponse]]
) -> Handler:
    """A correct server except that `method` is answered by `respond`."""

    async def override(request: web.Request, message: dict[str, Any]) -> web.StreamResponse | None:
        if message.get("method") == method:
            return await respond(request, message)
        return None

    return mcp_server(override)


async def _sse_headers(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    return response


def sse_never_answers(method: str = "tools/list") -> Handler:
    """Answers `method` with an event stream that keeps alive but never carries the response."""

    async def respond(request: web.Request, _message: dict[str, Any]) -> web.StreamResponse:
        response = await _sse_headers(request)
        await response.write(b"id: 1\ndata:\n\n")
        while True:
            await response.write(b": keep-alive\n\n")
            await asyncio.sleep(0.2)

    return on_method(method, respond)


def sse_flood(method: str = "tools/list") -> Handler:
    """Answers `method` with an endless, fast stream of notifications and never the response."""
    note = json.dumps({"jsonrpc": "2.0", "method": "notifications/message", "params": {}})
    burst = f"event: message\ndata: {note}\n\n".encode() * 256

    async def respond(request: web.Request, _message: dict[str, Any]) -> web.StreamResponse:
        response = await _sse_headers(request)
        while True:
            await response.write(burst)

    return on_method(method, respond)


def sse_blank_line_flood(method: str = "tools/list") -> Handler:
    """Answers `method` with an endless stream of empty lines (cheap to send, costly to parse)."""
    burst = b"\n" * 65536

    async def respond(request: web.Request, _message: dict[str, Any]) -> web.StreamResponse:
        response = await _sse_headers(request)
        while True:
            await response.write(burst)

    return on_method(method, respond)


def gigantic_json(size: int, method: str = "initialize") -> Handler:
    """Answers `method` with a chunked JSON body of `size` bytes (a tool list gone wild)."""

    async def respond(request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        head = b'{"jsonrpc":"2.0","id":%d,"result":{"padding":"' % message["id"]
        await response.write(head)
        block = b"x" * 65536
        for _ in range(size // len(block) + 1):
            await response.write(block)
        await response.write(b'"}}')
        return response

    return on_method(method, respond)


def json_answer(method: str, body: bytes, content_type: str = "application/json") -> Handler:
    """Answers `method` with exactly `body` (a template: %(id)d is the request id)."""

    async def respond(_request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        data = body.replace(b"%(id)d", str(message["id"]).encode())
        return web.Response(body=data, headers={"Content-Type": content_type})

    return on_method(method, respond)


def sse_answer(method: str, body: bytes) -> Handler:
    """Answers `method` with an event stream of exactly `body` (%(id)d is the request id)."""

    async def respond(request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        response = await _sse_headers(request)
        await response.write(body.replace(b"%(id)d", str(message["id"]).encode()))
        await response.write_eof()
        return response

    return on_method(method, respond)


def nested(depth: int) -> str:
    """A JSON array nested `depth` levels deep."""
    return "[" * depth + "]" * depth


def redirect(location: Callable[[web.Request], str], status: int = 307) -> Handler:
    """Redirects every request to `location(request)`."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": location(request)})

    return handler


# --- raw servers -------------------------------------------------------------------------------


@dataclass
class Request:
    """One parsed HTTP/1.1 request."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        """The body as a JSON object."""
        data: dict[str, Any] = json.loads(self.body)
        return data


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """Read one request; None when the client closed the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(method, path, headers, body)


RawHandler = Callable[[Request, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class RawServer:
    """A raw server's URL and the connections it saw."""

    url: str
    connections: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


@asynccontextmanager
async def raw_serve(
    handler: RawHandler, path: str = "/mcp", ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[RawServer]:
    """Serve requests on 127.0.0.1 with `handler`, which writes raw bytes; yield the server.

    The connection is kept for the next request until the handler closes it.
    """
    server_info = RawServer("")

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server_info.connections += 1
        task = asyncio.current_task()
        assert task is not None
        server_info.tasks.add(task)
        try:
            while not writer.is_closing():
                request = await read_request(reader)
                if request is None:
                    break
                await handler(request, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.transport.abort()
            server_info.tasks.discard(task)

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0, ssl=ssl_context)
    port = server.sockets[0].getsockname()[1]
    scheme = "https" if ssl_context is not None else "http"
    server_info.url = f"{scheme}://127.0.0.1:{port}{path}"
    try:
        yield server_info
    finally:
        server.close()
        for task in list(server_info.tasks):
            task.cancel()
        for task in list(server_info.tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await server.wait_closed()


@asynccontextmanager
async def silent_listener(path: str = "/mcp", scheme: str = "http") -> AsyncIterator[str]:
    """Accepts connections and never sends a byte (not even a TLS handshake)."""
    held: list[asyncio.StreamWriter] = []

    async def on_connection(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"{scheme}://127.0.0.1:{port}{path}"
    finally:
        server.close()
        for writer in held:
            writer.transport.abort()
        await server.wait_closed()


def head(
    status: str = "200 OK", headers: dict[str, str] | None = None, version: str = "HTTP/1.1"
) -> bytes:
    """A status line and header block."""
    lines = [f"{version} {status}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def raw_mcp(
    override: Callable[[Request, dict[str, Any]], bytes | None] | None = None,
) -> RawHandler:
    """A correct keep-alive MCP server in raw HTTP; `override` may answer with raw bytes."""

    async def handler(
        request: Request, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if request.method == "DELETE":
            writer.write(head("200 OK", {"Content-Length": "0"}))
            return
        message = request.json()
        if override is not None and (raw := override(request, message)) is not None:
            writer.write(raw)
            await writer.drain()
            return
        reply = answer(message)
        if reply is None:
            writer.write(head("202 Accepted", {"Content-Length": "0"}))
            return
        body = json.dumps(reply).encode()
        writer.write(
            head("200 OK", {"Content-Type": "application/json", "Content-Length": str(len(body))})
            + body
        )
        await writer.drain()

    return handler


def http10(sse: bool = False) -> RawHandler:
    """An HTTP/1.0 MCP server: no Content-Length, the body ends when the connection closes."""

    async def handler(
        request: Request, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if request.method == "DELETE":
            writer.write(head("200 OK", version="HTTP/1.0"))
        else:
            reply = answer(request.json())
            if reply is None:
                writer.write(head("202 Accepted", version="HTTP/1.0"))
            elif sse:
                writer.write(head("200 OK", {"Content-Type": "text/event-stream"}, "HTTP/1.0"))
                writer.write(b"id: 1\ndata:\n\n")
                writer.write(f"event: message\ndata: {json.dumps(reply)}\n\n".encode())
            else:
                writer.write(head("200 OK", {"Content-Type": "application/json"}, "HTTP/1.0"))
                # In two writes, so the client has to read until the close.
                text = json.dumps(reply).encode()
                writer.write(text[:10])
                await writer.drain()
                await asyncio.sleep(0.01)
                writer.write(text[10:])
        await writer.drain()
        writer.close()

    return handler


def slowloris_head(interval: float) -> RawHandler:
    """Sends the status line, then header bytes one at a time, forever."""

    async def handler(
        _request: Request, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\n")
        while True:
            for byte in b"X-Slow: a\r\n":
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(interval)

    return handler


def slowloris_body(interval: float) -> RawHandler:
    """Sends the head promising 100000 bytes, then the body one byte at a time."""

    async def handler(
        _request: Request, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(
            head("200 OK", {"Content-Type": "application/json", "Content-Length": "100000"})
        )
        while True:
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(interval)

    return handler


def never_answers() -> RawHandler:
    """Reads the request and never answers."""

    async def handler(
        _request: Request, reader: asyncio.StreamReader, _writer: asyncio.StreamWriter
    ) -> None:
        await reader.read()  # until the client goes away

    return handler


def reset_mid_body() -> RawHandler:
    """Promises 1000 bytes of JSON, sends 100, then resets the connection (RST)."""

    async def handler(
        _request: Request, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(head("200 OK", {"Content-Type": "application/json", "Content-Length": "1000"}))
        writer.write(b'{"jsonrpc": "2.0", "id": 1, "result": {"padding": "' + b"x" * 49)
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    return handler


def raw_response(data: bytes) -> RawHandler:
    """Answers every request with exactly `data`, then closes."""

    async def handler(
        _request: Request, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(data)
        await writer.drain()
        writer.close()

    return handler


def huge_content_length() -> RawHandler:
    """Claims a terabyte of JSON and starts sending it."""

    async def handler(
        _request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(
            head("200 OK", {"Content-Type": "application/json", "Content-Length": str(10**12)})
        )
        writer.write(b'{"jsonrpc": "2.0"')
        await writer.drain()
        await reader.read()

    return handler


# --- HTTP/2 -------------------------------------------------------------------------------------

# Misbehaviours of `h2_server` on initialize, each what a broken or hostile HTTP/2 stack sends.
H2_MISBEHAVIOURS = (
    "status_not_a_number",
    "oversized_header_block",
    "push_promise",
    "invalid_settings",
    "length_lie_in_body",
)


def _h2_misbehave(
    conn: h2.connection.H2Connection, writer: asyncio.StreamWriter, stream_id: int, how: str
) -> bool:
    """Misbehave on `stream_id` as `how` says; False when the body is still to come."""
    if how == "status_not_a_number":
        conn.send_headers(stream_id, [(":status", "abc")], end_stream=True)
    elif how == "oversized_header_block":
        headers = [(":status", "200"), *((f"x-{i}", "a" * 100) for i in range(1000))]
        conn.send_headers(stream_id, headers, end_stream=True)
    elif how == "push_promise":  # the client disabled push in its settings
        frame = hyperframe.frame.PushPromiseFrame(
            stream_id, promised_stream_id=2, data=b"\x82\x86\x84", flags=["END_HEADERS"]
        )
        writer.write(frame.serialize())
    elif how == "invalid_settings":
        settings = {hyperframe.frame.SettingsFrame.INITIAL_WINDOW_SIZE: 2**31}
        writer.write(hyperframe.frame.SettingsFrame(0, settings=settings).serialize())
    else:  # the head promises 5 bytes; the body, sent later, has more
        headers = [(":status", "200"), ("content-type", "application/json")]
        conn.send_headers(stream_id, [*headers, ("content-length", "5")])
        return False
    return True


@asynccontextmanager
async def h2_server(how: str) -> AsyncIterator[str]:
    """An HTTP/2 server by prior knowledge (clear text) answering initialize as `how` says
    (one of H2_MISBEHAVIOURS), on 127.0.0.1; yields the URL."""
    tasks: set[asyncio.Task[None]] = set()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        config = h2.config.H2Configuration(client_side=False, validate_outbound_headers=False)
        conn = h2.connection.H2Connection(config)
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        try:
            while data := await reader.read(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.StreamEnded):
                        done = _h2_misbehave(conn, writer, event.stream_id, how)
                        writer.write(conn.data_to_send())
                        await writer.drain()
                        if not done:
                            await asyncio.sleep(0.05)
                            conn.send_data(event.stream_id, b'{"jsonrpc": "2.0"}', end_stream=True)
                writer.write(conn.data_to_send())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.transport.abort()
            tasks.discard(task)

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        for task in list(tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await server.wait_closed()


# --- TLS material ------------------------------------------------------------------------------


@dataclass
class TLSFiles:
    """A CA and certificates written to files, as a module's tls_config names them."""

    ca: trustme.CA
    ca_file: Path
    directory: Path

    def server_context(self, cert: trustme.LeafCert) -> ssl.SSLContext:
        """A server context presenting `cert`."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        return context

    def write_pair(self, cert: trustme.LeafCert, name: str) -> tuple[Path, Path]:
        """Write a certificate chain and its key; return (cert_file, key_file)."""
        cert_file, key_file = self.directory / f"{name}.crt", self.directory / f"{name}.key"
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        cert.private_key_pem.write_to_path(str(key_file))
        return cert_file, key_file


def tls_files(directory: Path) -> TLSFiles:
    """A fresh CA with its certificate in `directory`/ca.pem."""
    ca = trustme.CA()
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return TLSFiles(ca, ca_file, directory)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def mint_cert(
    directory: Path,
    name: str,
    *,
    not_after: datetime.datetime,
    issuer: TLSFiles | None = None,
) -> ssl.SSLContext:
    """A server context for a 127.0.0.1 certificate expiring at `not_after`.

    Signed by `issuer`'s CA, or self-signed when no issuer is given.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    if issuer is not None:
        issuer_key = serialization.load_pem_private_key(issuer.ca.private_key_pem.bytes(), None)
        assert isinstance(issuer_key, ec.EllipticCurvePrivateKey)
        issuer_cert = x509.load_pem_x509_certificate(issuer.ca.cert_pem.bytes())
        issuer_name, signing_key = issuer_cert.subject, issuer_key
    else:
        issuer_name, signing_key = _name("127.0.0.1"), key
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(now, not_after) - datetime.timedelta(days=30))
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(signing_key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert_file), str(key_file))
    return context


@asynccontextmanager
async def serve_tls(
    handler: Handler, context: ssl.SSLContext, path: str = "/mcp"
) -> AsyncIterator[str]:
    """Serve `handler` over TLS on 127.0.0.1; yield the https URL."""
    app = web.Application()
    app.router.add_route("*", path, handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}{path}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def serve_routes(routes: dict[str, Handler]) -> AsyncIterator[str]:
    """Serve several paths on 127.0.0.1; yield the base URL (no trailing slash)."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def legacy_sse(
    endpoint: bytes = b"/messages", close_on: str | None = None, reply_id: object = None
) -> dict[str, Handler]:
    """A legacy HTTP+SSE server (GET /sse, POST /messages); it may close the stream on a method.

    `endpoint` is the endpoint event's data (b"" sends no endpoint event at all); `reply_id`,
    when given, is the id of every response instead of the request's.
    """
    queues: list[asyncio.Queue[bytes | None]] = []

    async def stream(request: web.Request) -> web.StreamResponse:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        queues.append(queue)
        response = await _sse_headers(request)
        if endpoint:
            await response.write(b"event: endpoint\ndata: " + endpoint + b"\n\n")
        while (item := await queue.get()) is not None:
            await response.write(item)
        return response

    async def messages(request: web.Request) -> web.StreamResponse:
        message = await request.json()
        for queue in queues:
            if message.get("method") == close_on:
                queue.put_nowait(None)
            elif (reply := answer(message)) is not None:
                if reply_id is not None:
                    reply["id"] = reply_id
                queue.put_nowait(f"event: message\ndata: {json.dumps(reply)}\n\n".encode())
        return web.Response(status=202)

    return {"/sse": stream, "/messages": messages}


@contextlib.contextmanager
def tls_rejecting_client_certs(context: ssl.SSLContext) -> Iterator[str]:
    """A blocking TLS server that fails the handshake of a client without a certificate.

    Unlike an asyncio server it sends the TLS alert (as nginx or Go servers do) and keeps the
    socket open a moment, so the client reads the alert instead of a reset. Yields the URL.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def run() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            tls = context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
            try:
                tls.do_handshake()
                tls.recv(1)
            except (OSError, ssl.SSLError):
                time.sleep(0.3)
            tls.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{port}/mcp"
    finally:
        listener.close()
        thread.join(timeout=5)


# --- untrusted text ----------------------------------------------------------------------------


def message_for(request_id: object, outcome: dict[str, Any]) -> bytes:
    """A response carrying `outcome` ({"result": ...} or {"error": ...}) as JSON text.

    json.dumps escapes lone surrogates as \\udXXX, exactly as a server written in JavaScript or
    Go would send them: legal JSON text that no UTF-8 encoder accepts once decoded.
    """
    return json.dumps({"jsonrpc": "2.0", "id": request_id, **outcome}).encode()


def scripted(outcomes: dict[str, dict[str, Any]], content_type: str = "json") -> Handler:
    """A correct server except that each method in `outcomes` is answered with its outcome,
    as application/json or as an event stream (`content_type="sse"`)."""

    async def override(request: web.Request, message: dict[str, Any]) -> web.StreamResponse | None:
        outcome = outcomes.get(str(message.get("method")))
        if outcome is None or "id" not in message:
            return None
        body = message_for(message["id"], outcome)
        if content_type == "sse":
            response = await _sse_headers(request)
            await response.write(b"event: message\ndata: " + body + b"\n\n")
            await response.write_eof()
            return response
        return web.Response(body=body, headers={"Content-Type": "application/json"})

    return mcp_server(override)


def init_outcome(**server_info: Any) -> dict[str, Any]:
    """An InitializeResult whose serverInfo has the given fields."""
    return {
        "result": {
            "protocolVersion": "2025-11-25",
            "capabilities": {"tools": {}},
            "serverInfo": server_info,
        }
    }


def echoing_credentials() -> Handler:
    """A server that echoes what the client sent (its Authorization header, the URL's query)
    into serverInfo, a tool call's error and an error body: everywhere a probe looks."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method == "DELETE":
            return web.Response(status=200)
        echoed = f"{request.headers.get('Authorization', '')} {request.query_string}"
        message = await request.json()
        method = message.get("method")
        if method == "initialize":
            body = message_for(
                message["id"],
                init_outcome(name=f"srv {echoed}", version="x" * 250 + echoed),
            )
            return web.Response(
                body=body, headers={"Content-Type": "application/json", "X-Echo": echoed}
            )
        if "id" not in message:
            return web.Response(status=202)
        if method == "tools/list":
            error = {"code": -32603, "message": f"cannot list for {echoed}", "data": echoed}
            return web.Response(
                body=message_for(message["id"], {"error": error}),
                headers={"Content-Type": "application/json"},
            )
        return web.Response(status=500, text=f"{'y' * 290} {echoed}")

    return handler


@dataclass
class AskingServer:
    """What `asks_back` saw: the client's answers to its requests, with their headers."""

    answers: dict[object, dict[str, Any]] = field(default_factory=dict)
    answer_headers: list[dict[str, str]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


def asks_back(
    requests: list[dict[str, Any]], server: AskingServer, wait_for: int | None = None
) -> Handler:
    """A stateful server that answers tools/list with an event stream carrying `requests` (server
    to client) first, and the list only once `wait_for` answers (one per request with an id, by
    default) came back;
    things the SDK cannot send (roots/list on a stream, unknown methods, odd ids)."""
    expected = sum("id" in r for r in requests) if wait_for is None else wait_for

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method == "DELETE":
            return web.Response(status=200)
        message = await request.json()
        if "method" not in message:  # the client's answer to one of our requests
            server.answers[message.get("id")] = message
            server.answer_headers.append(dict(request.headers))
            if len(server.answers) >= expected:
                server.arrived.set()
            return web.Response(status=202)
        if message["method"] == "tools/list":
            response = await _sse_headers(request)
            for item in requests:
                await response.write(f"event: message\ndata: {json.dumps(item)}\n\n".encode())
            if expected:
                await server.arrived.wait()
            listing = {"jsonrpc": "2.0", "id": message["id"], "result": {"tools": TOOLS}}
            await response.write(f"event: message\ndata: {json.dumps(listing)}\n\n".encode())
            await response.write_eof()
            return response
        reply = answer(message)
        if reply is None:
            return web.Response(status=202)
        return web.json_response(reply, headers={"Mcp-Session-Id": "session-1"})

    return handler


def issues_session(session_id: str, seen: list[str | None]) -> Handler:
    """A stateful server issuing `session_id` at initialize; records every request's id."""

    async def override(request: web.Request, message: dict[str, Any]) -> web.StreamResponse | None:
        seen.append(request.headers.get("Mcp-Session-Id"))
        if message.get("method") == "initialize":
            return web.json_response(
                initialize_result(message["id"]), headers={"Mcp-Session-Id": session_id}
            )
        return None

    return mcp_server(override)
