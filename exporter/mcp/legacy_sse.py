"""The legacy HTTP+SSE transport (2024-11-05): answers on a GET event stream, requests POSTed.

`open` GETs the stream and waits for its `endpoint` event, which must stay on the target's
origin; every message is then POSTed there, and a reader task hands each response on the stream
to the call waiting for its id, and answers the server's own requests without pausing the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..net import requestable
from ..probers.context import ProbeContext
from ..probers.failure import Hop, ProbeFailure
from ..probers.http import Response
from . import jsonrpc
from .sse import Event, SSEParser
from .transport import Transport, challenge_failure, error_body


class LegacySSE(Transport):
    """HTTP+SSE (2024-11-05): a GET event stream for answers, POSTs to its `endpoint`."""

    name = "sse"

    def __init__(self, ctx: ProbeContext, url: str, headers: Mapping[str, str], hop: Hop) -> None:
        super().__init__(ctx, url, headers, hop)
        self.endpoint: str | None = None
        self._stream: Response | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._endpoint_ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._replies: set[asyncio.Task[None]] = set()

    async def open(self, phase: str) -> None:
        """GET the stream and wait for the `endpoint` event."""
        ctx = self.ctx
        headers = {"Accept": "text/event-stream", **self.headers}
        ctx.record_request("GET", self.url, headers, None, phase)
        response = await ctx.http.request(
            "GET",
            self.url,
            headers=headers,
            hop=self.hop,
            phase=phase,
            follow_redirects=True,
            within_origin=True,
        )
        ctx.last_status = response.status
        if response.status in (401, 403):
            sent = self.sent_credentials()
            failure = challenge_failure(ctx, response, self.url, self.hop, phase, sent)
            await response.aclose()
            raise failure
        if response.status != 200:
            excerpt = await error_body(response, self.ctx.redact)
            await response.aclose()
            raise ProbeFailure(
                self.hop, phase, "http_status", f"SSE GET answered {response.status}: {excerpt}"
            )
        if response.content_type != "text/event-stream":
            await response.aclose()
            raise ProbeFailure(
                self.hop,
                phase,
                "not_mcp",
                f"SSE GET answered content type {response.content_type or 'none'!r}",
            )
        self._stream = response
        self._reader = asyncio.create_task(self._read(response))
        endpoint = await self._endpoint_ready
        target, given = urlsplit(self.url), urlsplit(endpoint)
        if (target.scheme, target.netloc) != (given.scheme, given.netloc):
            raise ProbeFailure(
                self.hop,
                phase,
                "sse_protocol_error",
                "endpoint event points to another origin; refusing to post there",
            )
        self.endpoint = endpoint
        ctx.log.debug("legacy SSE endpoint", endpoint=urlsplit(endpoint).path)

    async def _read(self, response: Response) -> None:
        parser = SSEParser()
        try:
            async for chunk in response.iter_chunks():
                for event in parser.feed(chunk):
                    self._dispatch(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every reader failure is handed to whoever waits
            error: BaseException = exc
        else:
            error = ProbeFailure(
                self.hop, self.ctx.phase, "sse_protocol_error", "SSE stream closed"
            )
        for future in [self._endpoint_ready, *self._pending.values()]:
            if not future.done():
                future.set_exception(error)

    def _dispatch(self, event: Event) -> None:
        if event.event == "endpoint":
            if not self._endpoint_ready.done():
                try:
                    endpoint = urljoin(self.url, event.data.strip())
                except ValueError:
                    endpoint = ""
                # Spaces, controls or raw non-ASCII: no URL a request line can carry.
                if requestable(endpoint):
                    self._endpoint_ready.set_result(endpoint)
                else:
                    self._endpoint_ready.set_exception(
                        ProbeFailure(
                            self.hop,
                            self.ctx.phase,
                            "sse_protocol_error",
                            "endpoint event is not a valid URL",
                        )
                    )
            return
        if event.event != "message" or not event.data:
            return
        try:
            message = jsonrpc.decode(event.data, self.hop, self.ctx.phase)
        except ProbeFailure as failure:
            for waiting in self._pending.values():
                if not waiting.done():
                    waiting.set_exception(failure)
            return
        if jsonrpc.is_server_request(message) and self.endpoint is not None:
            # The reader must keep reading while the answer is posted.
            task = asyncio.create_task(self.answer_server_request(message, self.ctx.phase))
            self._replies.add(task)
            task.add_done_callback(self._reply_done)
            return
        if jsonrpc.is_response(message):
            request_id = message.get("id")
            future = self._pending.get(request_id) if jsonrpc.is_request_id(request_id) else None
            if future is not None:
                if not future.done():
                    future.set_result(message)
                return
            # A response to no request of ours: whoever waits gets it and reports the mismatch.
            for waiting in self._pending.values():
                if not waiting.done():
                    waiting.set_result(message)

    async def call(self, method: str, params: dict[str, Any], phase: str) -> dict[str, Any]:
        """POST a request to the endpoint; its response arrives on the event stream."""
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self._post(
                {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}, phase
            )
            message = await future
        except ProbeFailure as failure:
            # The stream was opened in an earlier phase; its failure belongs to this one.
            raise ProbeFailure(failure.hop, phase, failure.reason, failure.detail) from None
        finally:
            self._pending.pop(request_id, None)
        return jsonrpc.result_of(message, request_id, self.hop, phase)

    async def notify(self, method: str, params: dict[str, Any] | None, phase: str) -> None:
        """POST a notification to the endpoint."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self._post(message, phase)

    async def _post(self, message: dict[str, Any], phase: str) -> None:
        assert self.endpoint is not None
        headers = {"Content-Type": "application/json", **self.headers}
        body = jsonrpc.encode(message)
        # The endpoint's query names the session: a variable, like every session id.
        self.ctx.record_request(
            "POST", self.endpoint, headers, body, phase, secrets=[("MCP_ENDPOINT", self.endpoint)]
        )
        response = await self._post_body(self.endpoint, headers, body, phase)
        self.ctx.last_status = response.status
        try:
            if not 200 <= response.status < 300:
                excerpt = await error_body(response, self.ctx.redact)
                raise ProbeFailure(
                    self.hop,
                    phase,
                    "http_status",
                    f"POST to the SSE endpoint answered {response.status}: {excerpt}",
                )
            await response.read()
        finally:
            await response.aclose()

    def _reply_done(self, task: asyncio.Task[None]) -> None:
        # Answering never fails the probe; whatever went wrong is in its log, not a stray
        # "exception was never retrieved" on stderr.
        self._replies.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self.ctx.log.warning("answering a server request failed", error=str(error))

    async def _send_reply(self, reply: dict[str, Any], phase: str) -> int:
        assert self.endpoint is not None
        headers = {"Content-Type": "application/json", **self.headers}
        return await self._post_reply(self.endpoint, headers, reply, phase)

    async def close(self, delete_session: bool = True) -> None:
        """Cancel the pending replies and stop reading the event stream."""
        for task in list(self._replies):
            task.cancel()
        if self._reader is not None:
            self._reader.cancel()
            # Closing: the reader's outcome is already known to whoever waited on it.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._stream is not None:
            await self._stream.aclose()
