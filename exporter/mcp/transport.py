"""What every MCP transport shares: the `Transport` base class and its error-response helpers.

A transport carries the prober's JSON-RPC messages to one MCP server and brings the results back.
The base class holds the target, its headers and hop, and answers the requests a server sends on
a response stream; `challenge_failure` and `error_body` turn a refused or failed HTTP answer into
the probe's failure and a scrubbed excerpt. The two transports are `streamable_http.py` (2025-03-26
on) and `legacy_sse.py` (HTTP+SSE, 2024-11-05).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Final

from ..probers.auth import classify_challenge
from ..probers.context import ProbeContext
from ..probers.failure import Hop, ProbeFailure
from ..probers.http import Response
from ..probers.www_authenticate import AuthChallenge
from ..untrusted import clean
from . import jsonrpc

# A server may ask the client things mid-request (ping, sampling); beyond this many per probe
# they are left unanswered, so a flood of them cannot turn the probe into a request storm.
_MAX_SERVER_REQUESTS: Final = 32
# How much of an error body is searched for echoed credentials and then cut to an excerpt.
_ERROR_BODY_BYTES: Final = 64 * 1024


class Transport:
    """What the MCP prober needs from a transport."""

    name = "unknown"
    protocol_version: str | None = None
    session_id: str | None = None

    def __init__(self, ctx: ProbeContext, url: str, headers: Mapping[str, str], hop: Hop) -> None:
        self.ctx = ctx
        self.url = url
        self.headers = dict(headers)
        self.hop: Hop = hop
        self._server_requests = 0
        self._noted_server_requests: set[str] = set()

    def sent_credentials(self) -> bool:
        """Whether requests carry credentials (so a 401 means they were rejected)."""
        return any(k.lower() in ("authorization", "x-litellm-api-key") for k in self.headers)

    async def call(self, method: str, params: dict[str, Any], phase: str) -> dict[str, Any]:
        """Send a request and return the result object of its response."""
        raise NotImplementedError

    async def notify(self, method: str, params: dict[str, Any] | None, phase: str) -> None:
        """Send a notification."""
        raise NotImplementedError

    async def close(self, delete_session: bool = True) -> None:
        """End the session (if any and if asked) and stop reading."""

    async def _send_reply(self, reply: dict[str, Any], phase: str) -> int:
        """POST the client's answer to a server request; returns the HTTP status."""
        raise NotImplementedError

    async def _post_body(
        self, url: str, headers: Mapping[str, str], body: bytes, phase: str
    ) -> Response:
        """POST a JSON-RPC body on the transport's hop; redirects are followed within the
        target's origin only (a redirect elsewhere must not carry the session's credentials)."""
        return await self.ctx.http.request(
            "POST",
            url,
            headers=headers,
            body=body,
            hop=self.hop,
            phase=phase,
            follow_redirects=True,
            within_origin=True,
        )

    async def _post_reply(
        self, url: str, headers: dict[str, str], reply: dict[str, Any], phase: str
    ) -> int:
        response = await self._post_body(url, headers, jsonrpc.encode(reply), phase)
        try:
            await response.read()
        finally:
            await response.aclose()
        return response.status

    async def answer_server_request(self, message: dict[str, Any], phase: str) -> None:
        """Answer a request the server sent on a response stream: `ping` with its empty result,
        anything else (sampling, elicitation, roots: capabilities this client never declared)
        with -32601. A server that waits for the answer would otherwise stall the probe with no
        hint. The exchange is logged and noted; it never fails the probe itself."""
        ctx = self.ctx
        method = clean(str(message.get("method")), 80, one_line=True)
        self._server_requests += 1
        if self._server_requests > _MAX_SERVER_REQUESTS:
            if self._server_requests == _MAX_SERVER_REQUESTS + 1:
                ctx.log.warning("too many server requests; the rest go unanswered", method=method)
                ctx.note(
                    f"the server sent more than {_MAX_SERVER_REQUESTS} requests; "
                    "the rest were not answered"
                )
            return
        reply = jsonrpc.reply_to_server_request(message)
        if reply is None:
            ctx.log.warning("server request with an invalid id not answered", method=method)
            ctx.note(f"the server sent a {method} request with an invalid id; not answered")
            return
        answer = (
            "its empty result"
            if "result" in reply
            else f"error {jsonrpc.METHOD_NOT_FOUND} (method not found: not a declared capability)"
        )
        try:
            status = await self._send_reply(reply, phase)
        except (ProbeFailure, OSError) as exc:
            ctx.log.warning("answering a server request failed", method=method, error=str(exc))
            ctx.note(f"the server sent a {method} request during {phase}; answering it failed")
            return
        ctx.log.info("answered a server request", method=method, answer=answer, status=status)
        if not 200 <= status < 300:
            ctx.note(f"the answer to the server's {method} request was refused with {status}")
        elif method not in self._noted_server_requests:
            self._noted_server_requests.add(method)
            ctx.note(f"the server sent a {method} request during {phase}; answered with {answer}")


def challenge_failure(
    ctx: ProbeContext, response: Response, url: str, hop: Hop, phase: str, sent_credentials: bool
) -> ProbeFailure:
    """The failure for a 401 or 403, its challenge kept on the probe context."""
    received = AuthChallenge.received(
        response.status, url, response.headers.get_all("www-authenticate"), sent_credentials
    )
    ctx.auth_challenge = received
    return classify_challenge(ctx, response.status, received.bearer, hop, phase, sent_credentials)


async def error_body(response: Response, redact: Callable[[str], str]) -> str:
    """A short, printable excerpt of an error response body (never raises), scrubbed of the
    probe's credentials before it is cut (a cut could split an echoed secret)."""
    try:
        body = await response.read()
    except (ProbeFailure, OSError, asyncio.IncompleteReadError):
        return ""
    text = redact(body[:_ERROR_BODY_BYTES].decode("utf-8", "replace"))
    return " ".join(text.split())[:300]
