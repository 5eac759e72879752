"""Hand-written fake servers, only for misbehaviour no real MCP server produces."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve(handler: Handler, path: str = "/mcp") -> AsyncIterator[str]:
    """Serve `handler` for every method at `path` on 127.0.0.1; yield the URL."""
    app = web.Application()
    app.router.add_route("*", path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}{path}"
    finally:
        await runner.cleanup()


def initialize_result(request_id: object, version: str = "2025-11-25") -> dict[str, object]:
    """A valid InitializeResult response."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "result": {
            "protocolVersion": version,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "fake", "version": "0"},
        },
    }


def html_page() -> Handler:
    """A web page where the MCP endpoint should be."""

    async def handler(_request: web.Request) -> web.Response:
        return web.Response(text="<html><body>Welcome</body></html>", content_type="text/html")

    return handler


def wrong_content_type() -> Handler:
    """A JSON-RPC answer labelled text/plain."""

    async def handler(request: web.Request) -> web.Response:
        body = await request.json()
        return web.Response(
            text=json.dumps(initialize_result(body["id"])), content_type="text/plain"
        )

    return handler


def session_required() -> Handler:
    """Initializes without issuing a session id, then demands one."""

    async def handler(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("method") == "initialize":
            return web.json_response(initialize_result(body["id"]))
        if body.get("method") == "notifications/initialized":
            return web.Response(status=202)
        return web.json_response(
            {
                "jsonrpc": "2.0",
                "id": None,
                "error": {"code": -32000, "message": "Bad Request: Missing session ID"},
            },
            status=400,
        )

    return handler


def jsonrpc_error_on(method: str, code: int = -32603) -> Handler:
    """Answers `method` with a JSON-RPC error, everything else correctly."""

    async def handler(request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("method") == "initialize":
            return web.json_response(initialize_result(body["id"]))
        if "id" not in body:
            return web.Response(status=202)
        if body.get("method") == method:
            return web.json_response(
                {
                    "jsonrpc": "2.0",
                    "id": body["id"],
                    "error": {"code": code, "message": "Internal error"},
                }
            )
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": {"tools": []}})

    return handler


def stalls_after_headers(seconds: float) -> Handler:
    """Sends SSE headers and a priming event, then nothing for `seconds`."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b"id: 1\ndata:\n\n")
        await asyncio.sleep(seconds)
        return resp

    return handler
