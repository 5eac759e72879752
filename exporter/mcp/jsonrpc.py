"""JSON-RPC 2.0 messages as MCP uses them: building requests, validating responses."""

from __future__ import annotations

import json
from typing import Any, Final

from ..probers.failure import Hop, ProbeFailure
from ..untrusted import loads


class JSONRPCError(ProbeFailure):
    """The server answered with a JSON-RPC error object."""

    def __init__(self, hop: Hop, phase: str, code: int, message: str) -> None:
        # Not cut here: the detail is redacted before it is bounded (a cut could split a
        # credential the server echoed into its message).
        super().__init__(hop, phase, "jsonrpc_error", f"JSON-RPC error {code}: {message}")
        self.code = code
        self.message = message


# json.dumps with options builds a new encoder per call; one shared encoder is cheaper.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode(message: dict[str, Any]) -> bytes:
    """Compact JSON for the wire."""
    text: str = _ENCODER.encode(message)
    return text.encode("utf-8")


def decode(data: bytes | str, hop: Hop, phase: str) -> Any:
    """Parse JSON from a target; anything unparseable is `not_mcp`. Strings come back free of
    lone surrogates (see untrusted.loads), so nothing downstream has to care."""
    try:
        return loads(data)
    except RecursionError:
        raise ProbeFailure(hop, phase, "jsonrpc_invalid", "JSON nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProbeFailure(hop, phase, "not_mcp", f"body is not JSON: {exc}") from None


METHOD_NOT_FOUND: Final = -32601
# Error codes are integers; SDKs hold them in 64 bits at most (JavaScript in a double).
_MAX_CODE: Final = 2**63


def is_request_id(value: Any) -> bool:
    """A JSON-RPC id as MCP allows it: a string or an integer (a bool is not one, though
    Python counts True as 1)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def is_server_request(message: Any) -> bool:
    """A request from the server (it carries a method and an id) that wants an answer."""
    return isinstance(message, dict) and "method" in message and "id" in message


def reply_to_server_request(message: dict[str, Any]) -> dict[str, Any] | None:
    """The client's answer to a server's request: `ping` gets its empty result (the receiver
    MUST answer promptly); everything else, sampling, elicitation and roots included, asks for
    a capability this client never declared and gets -32601. None when the id is unusable."""
    request_id = message.get("id")
    if not is_request_id(request_id):
        return None
    if message.get("method") == "ping":
        return {"jsonrpc": "2.0", "id": request_id, "result": {}}
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": {
            "code": METHOD_NOT_FOUND,
            "message": "Method not found: this client declares no capability for it",
        },
    }


def is_response(message: Any) -> bool:
    """A response carries an id and a result or error, and no method."""
    return (
        isinstance(message, dict)
        and "method" not in message
        and ("result" in message or "error" in message)
    )


def _describe_id(value: Any) -> str:
    """A response id as a message shows it: integers as they are, anything else by its type
    (its text is the server's, possibly an echoed credential, and would need a cut here)."""
    if type(value) is int and abs(value) < 10**18:
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return json.dumps(value)
    return f"of type {type(value).__name__.replace('dict', 'object').replace('list', 'array')}"


def result_of(message: Any, request_id: int, hop: Hop, phase: str) -> dict[str, Any]:
    """Validate a response to `request_id` and return its result object."""
    if isinstance(message, list):
        raise ProbeFailure(
            hop, phase, "jsonrpc_invalid", "got a JSON-RPC batch, expected one object"
        )
    if not isinstance(message, dict):
        raise ProbeFailure(hop, phase, "jsonrpc_invalid", "response is not a JSON object")
    if message.get("jsonrpc") != "2.0":
        raise ProbeFailure(hop, phase, "jsonrpc_invalid", 'response lacks "jsonrpc": "2.0"')
    response_id = message.get("id")
    # `type(...) is int`: True == 1 in Python, and a float id is not the id that was sent.
    if type(response_id) is not int or response_id != request_id:
        raise ProbeFailure(
            hop,
            phase,
            "jsonrpc_invalid",
            f"response id {_describe_id(response_id)} does not match request id {request_id}",
        )
    has_result, has_error = "result" in message, "error" in message
    if has_result == has_error:
        raise ProbeFailure(
            hop, phase, "jsonrpc_invalid", "response must have exactly one of result and error"
        )
    if has_error:
        error = message["error"]
        code = error.get("code") if isinstance(error, dict) else None
        if type(code) is not int:
            raise ProbeFailure(hop, phase, "jsonrpc_invalid", "error object lacks an integer code")
        if not -_MAX_CODE <= code < _MAX_CODE:
            # It becomes a metric value: a float cannot hold a 400-digit integer.
            raise ProbeFailure(
                hop, phase, "jsonrpc_invalid", "error code is outside the 64-bit integer range"
            )
        message_text = error.get("message")
        if not isinstance(message_text, str):
            raise ProbeFailure(hop, phase, "jsonrpc_invalid", "error object lacks a string message")
        raise JSONRPCError(hop, phase, code, message_text)
    result = message["result"]
    if not isinstance(result, dict):
        raise ProbeFailure(hop, phase, "jsonrpc_invalid", "result is not an object")
    return result
