"""The Streamable HTTP transport (2025-03-26 on): one endpoint, a POST per message.

Each request's answer is JSON or an SSE stream (resumed with Last-Event-ID when the server closes
it early); the session id from `initialize` and, from 2025-06-18, the protocol version go on every
later request, and the session is ended with DELETE. A refused answer becomes the probe's failure
here: session expired or missing, unsupported version, a redirect not followed, an HTTP status.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

from ..net import requestable
from ..probers.context import ProbeContext
from ..probers.deviations import observe
from ..probers.failure import Hop, ProbeFailure
from ..probers.http import Response
from ..redact import display_url
from . import jsonrpc
from .sse import Event, SSEParser
from .transport import Transport, challenge_failure, error_body

ACCEPT_BOTH: Final = "application/json, text/event-stream"
_SESSION_ID_RE: Final = re.compile(r"^[\x21-\x7e]+$")
_MAX_RESUMES: Final = 3
_LOGGED_SERVER_MESSAGES: Final = 5
# Versions whose later requests carry MCP-Protocol-Version (MUST from 2025-06-18).
_VERSION_HEADER_FROM: Final = ("2025-06-18", "2025-11-25", "2026-07-28")
MODERN_VERSION: Final = "2026-07-28"


def _redirect_note(url: str, location: str) -> str:
    """Why a redirect was not followed, naming where it pointed (without its query)."""
    try:
        joined = urljoin(url, location)
        parts = urlsplit(joined)
    except ValueError:
        return "the redirect's Location is not a valid URL"
    if not requestable(joined):
        return "the redirect's Location is not a valid URL"
    host = parts.netloc.rpartition("@")[2]  # never log userinfo
    where = f"{parts.scheme}://{host}{parts.path}"[:200]
    return (
        f"redirect to {where} not followed: it leaves the target's origin or changes the "
        "method; probe the final URL instead"
    )


class StreamableHTTP(Transport):
    """The Streamable HTTP transport: one endpoint, POST per message, JSON or SSE answers."""

    name = "streamable_http"

    def __init__(self, ctx: ProbeContext, url: str, headers: Mapping[str, str], hop: Hop) -> None:
        super().__init__(ctx, url, headers, hop)
        self._next_id = 0
        self._server_messages = 0
        self.response_headers: dict[str, list[str]] = {}

    def _session_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """`headers` with the session id and, from 2025-06-18, the protocol version added."""
        if self.session_id is not None:
            headers["Mcp-Session-Id"] = self.session_id
        if self.protocol_version in _VERSION_HEADER_FROM:
            headers["MCP-Protocol-Version"] = str(self.protocol_version)
        return headers

    def _request_headers(self, method: str, params: dict[str, Any] | None) -> dict[str, str]:
        base = {"Content-Type": "application/json", "Accept": ACCEPT_BOTH, **self.headers}
        headers = self._session_headers(base)
        version = self.protocol_version
        if version == MODERN_VERSION:
            headers["Mcp-Method"] = method
            if method == "tools/call" and params is not None and "name" in params:
                headers["Mcp-Name"] = str(params["name"])
        return headers

    async def call(self, method: str, params: dict[str, Any], phase: str) -> dict[str, Any]:
        """POST a request; its response is a JSON body or an event stream (resumed if cut)."""
        self._next_id += 1
        request_id = self._next_id
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        response = await self._post(message, method, params, phase)
        try:
            content_type = response.content_type
            if content_type == "application/json":
                body = await response.read()
                return jsonrpc.result_of(
                    jsonrpc.decode(body, self.hop, phase), request_id, self.hop, phase
                )
            if content_type == "text/event-stream":
                return await self._result_from_stream(response, request_id, phase)
            raise ProbeFailure(
                self.hop,
                phase,
                "not_mcp",
                f"{response.status} with content type {content_type or 'none'!r}, "
                "expected application/json or text/event-stream",
            )
        finally:
            await response.aclose()

    async def notify(self, method: str, params: dict[str, Any] | None, phase: str) -> None:
        """POST a notification; the server must answer 202 Accepted."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        response = await self._post(message, method, params, phase)
        try:
            if response.status != 202:
                # The spec says 202 with no body; some servers answer 200/204. Tolerated, noted.
                self.ctx.log.warning(
                    "notification not answered with 202", method=method, status=response.status
                )
                self.ctx.note(f"{method} was answered with {response.status}, the spec says 202")
                observe(self.ctx, "notification_not_202", status=response.status)
            if await response.read():
                observe(self.ctx, "notification_response_body")
        finally:
            await response.aclose()

    async def _post(
        self, message: dict[str, Any], method: str, params: dict[str, Any] | None, phase: str
    ) -> Response:
        ctx = self.ctx
        headers = self._request_headers(method, params)
        ctx.log.debug(
            "POST", url=display_url(self.url), method=method, session=self.session_id is not None
        )
        body = jsonrpc.encode(message)
        ctx.record_request("POST", self.url, headers, body, phase)
        response = await self._post_body(self.url, headers, body, phase)
        ctx.last_status = response.status
        for name in ("x-litellm-version",):
            if name in response.headers:
                ctx.mcp.gateway_headers[name] = response.headers.get(name) or ""
        self.response_headers = {}
        for key, value in response.headers.items():
            self.response_headers.setdefault(key, []).append(value)
        ctx.log.debug(
            "response", status=response.status, content_type=response.content_type or "none"
        )
        if 200 <= response.status < 300:
            if method == "initialize":
                self._take_session_id(response, phase)
            return response
        try:
            raise await self._status_failure(response, method, phase)
        finally:
            await response.aclose()

    def _take_session_id(self, response: Response, phase: str) -> None:
        values = response.headers.get_all("mcp-session-id")
        if not values:
            return
        if len(set(values)) > 1:
            # Clients that join repeated fields send "a, b" back, which no server knows.
            raise ProbeFailure(
                self.hop,
                phase,
                "initialize_invalid",
                f"initialize answered with {len(values)} different Mcp-Session-Id headers",
            )
        session_id = values[0]
        if not _SESSION_ID_RE.match(session_id):
            raise ProbeFailure(
                self.hop,
                phase,
                "initialize_invalid",
                "Mcp-Session-Id has characters outside visible ASCII (0x21-0x7E)",
            )
        limit = self.ctx.module.config.limits.max_session_id_length
        if len(session_id) > limit:
            raise ProbeFailure(
                self.hop,
                phase,
                "initialize_invalid",
                f"Mcp-Session-Id is {len(session_id)} characters long, more than "
                f"limits.max_session_id_length ({limit})",
            )
        self.session_id = session_id

    async def _status_failure(self, response: Response, method: str, phase: str) -> ProbeFailure:
        status = response.status
        if status in (401, 403):
            sent = self.sent_credentials()
            failure = challenge_failure(self.ctx, response, self.url, self.hop, phase, sent)
            # The body often names what was refused (a gateway's server list, a scope).
            excerpt = await error_body(response, self.ctx.redact)
            if excerpt:
                self.ctx.mcp.error_body = excerpt
                failure.detail = f"{failure.detail}: {excerpt}"
            return failure
        excerpt = await error_body(response, self.ctx.redact)
        self.ctx.mcp.error_body = excerpt
        lowered = excerpt.lower()
        if status == 404 and self.session_id is not None and method != "initialize":
            return ProbeFailure(
                self.hop, phase, "session_expired", "404 for the session: the server ended it"
            )
        if status == 400 and "session" in lowered:
            return ProbeFailure(
                self.hop, phase, "session_missing", f"400: the server wants a session: {excerpt}"
            )
        if status == 400 and ("protocol version" in lowered or "protocolversion" in lowered):
            return ProbeFailure(self.hop, phase, "protocol_version_unsupported", f"400: {excerpt}")
        detail = f"HTTP {status} {response.reason}".strip()
        location = response.headers.get("location")
        if 300 <= status < 400 and location:
            detail = f"{detail}: {_redirect_note(self.url, location)}"
        elif excerpt:
            detail = f"{detail}: {excerpt}"
        return ProbeFailure(self.hop, phase, "http_status", detail)

    async def _result_from_stream(
        self, response: Response, request_id: int, phase: str
    ) -> dict[str, Any]:
        last_event_id: str | None = None
        retry_ms: int | None = None
        current: Response = response
        for attempt in range(_MAX_RESUMES + 1):
            parser = SSEParser()
            async for chunk in current.iter_chunks():
                for event in parser.feed(chunk):
                    if event.id is not None:
                        last_event_id = event.id
                    if event.retry_ms is not None:
                        retry_ms = event.retry_ms
                    result = await self._match(event, request_id, phase)
                    if result is not None:
                        await current.aclose()
                        return result
            if current is not response:
                await current.aclose()
            # The stream ended without our response. 2025-11-25 lets a server close after an
            # event with an id; the client resumes with GET and Last-Event-ID.
            if last_event_id is None or attempt == _MAX_RESUMES:
                break
            if retry_ms:
                await asyncio.sleep(min(retry_ms, 5000) / 1000)
            self.ctx.log.debug("resuming SSE stream", last_event_id=last_event_id)
            current = await self._resume(last_event_id, phase)
        raise ProbeFailure(
            self.hop, phase, "sse_protocol_error", "SSE stream ended before the response arrived"
        )

    async def _resume(self, last_event_id: str, phase: str) -> Response:
        headers = self._session_headers(
            {"Accept": "text/event-stream", **self.headers, "Last-Event-ID": last_event_id}
        )
        self.ctx.record_request("GET", self.url, headers, None, phase)
        response = await self.ctx.http.request(
            "GET",
            self.url,
            headers=headers,
            hop=self.hop,
            phase=phase,
            follow_redirects=True,
            within_origin=True,
        )
        if response.status != 200 or response.content_type != "text/event-stream":
            await response.aclose()
            raise ProbeFailure(
                self.hop,
                phase,
                "sse_protocol_error",
                f"stream closed before the response and resuming it got {response.status}",
            )
        return response

    async def _match(self, event: Event, request_id: int, phase: str) -> dict[str, Any] | None:
        if event.event != "message" or not event.data:
            return None  # priming events carry an id and empty data
        message = jsonrpc.decode(event.data, self.hop, phase)
        if isinstance(message, dict) and "method" in message:
            # A server request or notification interleaved before our response; a flood of
            # them is logged by its first few only.
            self._server_messages += 1
            if self._server_messages <= _LOGGED_SERVER_MESSAGES:
                self.ctx.log.debug("server message on stream", method=str(message["method"])[:80])
            if jsonrpc.is_server_request(message):
                await self.answer_server_request(message, phase)
            return None
        return jsonrpc.result_of(message, request_id, self.hop, phase)

    async def _send_reply(self, reply: dict[str, Any], phase: str) -> int:
        # With the session's headers, but no Mcp-Method: this message is a response.
        base = {"Content-Type": "application/json", "Accept": ACCEPT_BOTH, **self.headers}
        return await self._post_reply(self.url, self._session_headers(base), reply, phase)

    async def close(self, delete_session: bool = True) -> None:
        """DELETE the session, if the server gave one and the probe should end it."""
        if self.session_id is None or not delete_session:
            return
        ctx = self.ctx
        headers = self._session_headers(dict(self.headers))
        with ctx.step("session_delete"):
            ctx.record_request("DELETE", self.url, headers, None, "session_delete")
            response = await ctx.http.request(
                "DELETE",
                self.url,
                headers=headers,
                hop=self.hop,
                phase="session_delete",
                follow_redirects=True,
                within_origin=True,
            )
            try:
                await response.read()
            finally:
                await response.aclose()
        ok = 200 <= response.status < 300 or response.status == 405
        ctx.steps["session_delete"] = ok
        ctx.mcp.session_delete_status = response.status
        if not ok:
            observe(ctx, "session_delete_rejected", status=response.status)
        ctx.log.info("session delete", status=response.status, ok=ok)
        if not ok:
            ctx.note(f"DELETE of the session answered {response.status}; expected 2xx or 405")
