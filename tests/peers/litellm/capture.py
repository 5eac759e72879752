"""Record what a real LiteLLM 1.106.0 answers, scenario by scenario, into tests/testdata/litellm/.

    .venv/bin/python tests/peers/litellm/capture.py [OUTDIR]

Starts the LiteLLM peer (tests/peers/litellm_proxy.py), sends the requests of the gateway issues
with httpx, and writes one JSON file per scenario: every request (headers, body) and response
(status, all headers in order, content type, raw body, parsed JSON or SSE events), plus what the
upstream recorded. The master key is replaced by `<LITELLM_MASTER_KEY>`.
"""

from __future__ import annotations

import contextlib
import json
import sys
import uuid
from pathlib import Path
from typing import Any

try:
    import httpx
except ImportError:  # the mcp SDK 2.x depends on httpx2, which keeps the httpx API
    import httpx2 as httpx  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from tests.peers.litellm_proxy import (  # noqa: E402
    HEADER_VALUE,
    LiteLLMProxy,
    start_litellm_proxy,
)

ACCEPT = "application/json, text/event-stream"
PLACEHOLDERS: dict[str, str] = {}


def scrub(text: str) -> str:
    for secret, placeholder in PLACEHOLDERS.items():
        text = text.replace(secret, placeholder)
    return text


def parse_body(content_type: str, text: str) -> Any:
    if content_type.startswith("application/json"):
        try:
            return json.loads(text)
        except ValueError:
            return None
    if content_type.startswith("text/event-stream"):
        events = []
        for block in text.replace("\r\n", "\n").split("\n\n"):
            if not block.strip():
                continue
            event: dict[str, Any] = {}
            data = []
            for line in block.split("\n"):
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "data":
                    data.append(value)
                elif name in ("event", "id", "retry"):
                    event[name] = value
            event["data"] = "\n".join(data)
            with contextlib.suppress(ValueError):
                event["json"] = json.loads(event["data"]) if event["data"] else None
            events.append(event)
        return {"sse_events": events}
    return None


class Recorder:
    """One scenario: a list of exchanges over one httpx client (one connection, one session)."""

    def __init__(self, proxy: LiteLLMProxy, name: str, description: str) -> None:
        self.proxy = proxy
        self.name = name
        self.description = description
        self.exchanges: list[dict[str, Any]] = []
        self.client = httpx.Client(timeout=60)
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self.marks = {n: len(u.events()) for n, u in proxy.upstreams.items()}

    def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        body: Any = None,
        *,
        mcp: bool = True,
        note: str = "",
    ) -> httpx.Response:
        h = dict(headers or {})
        if mcp:
            h.setdefault("accept", ACCEPT)
            if body is not None:
                h.setdefault("content-type", "application/json")
            if self.session_id:
                h.setdefault("mcp-session-id", self.session_id)
            if self.protocol_version and (body or {}).get("method") != "initialize":
                h.setdefault("mcp-protocol-version", self.protocol_version)
        elif body is not None:
            h.setdefault("content-type", "application/json")
        content = json.dumps(body).encode() if body is not None else None
        if method == "GET" and "text/event-stream" in h.get("accept", ""):
            # A server-to-client stream never ends: keep the status and headers, drop the body.
            with self.client.stream(method, url, headers=h) as resp:
                text = "(stream not read)" if resp.status_code == 200 else resp.read().decode()
        else:
            resp = self.client.request(method, url, headers=h, content=content)
            text = resp.text
        ctype = resp.headers.get("content-type", "")
        parsed = parse_body(ctype, text)
        if (
            mcp
            and isinstance(body, dict)
            and body.get("method") == "initialize"
            and resp.status_code == 200
        ):
            self.session_id = resp.headers.get("mcp-session-id")
            result = _rpc_result(parsed)
            if result:
                self.protocol_version = result.get("protocolVersion")
        self.exchanges.append(
            {
                "note": note,
                "request": {
                    "method": method,
                    "url": url.replace(self.proxy.base_url, "{base_url}"),
                    "headers": h,
                    "body": body,
                },
                "response": {
                    "status": resp.status_code,
                    "headers": [[k, v] for k, v in resp.headers.multi_items()],
                    "content_type": ctype,
                    "body": text,
                    "parsed": parsed,
                },
            }
        )
        return resp

    def rpc(
        self,
        url: str,
        method: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        rid: int = 1,
        note: str = "",
    ) -> httpx.Response:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            body["params"] = params
        return self.send("POST", url, headers, body, note=note)

    def notify(
        self, url: str, method: str, headers: dict[str, str] | None = None, note: str = ""
    ) -> httpx.Response:
        return self.send("POST", url, headers, {"jsonrpc": "2.0", "method": method}, note=note)

    def initialize(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        version: str = "2025-11-25",
        note: str = "",
    ) -> httpx.Response:
        return self.rpc(
            url,
            "initialize",
            {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "mcp-exporter-capture", "version": "0.1.0"},
            },
            headers,
            rid=1,
            note=note,
        )

    def conversation(
        self,
        url: str,
        headers: dict[str, str],
        *,
        call: tuple[str, dict[str, Any]] | None = None,
        delete: bool = True,
    ) -> None:
        """initialize, notifications/initialized, tools/list, optional tools/call, DELETE."""
        r = self.initialize(url, headers)
        if r.status_code != 200:
            return
        self.notify(url, "notifications/initialized", headers)
        self.rpc(url, "tools/list", {}, headers, rid=2)
        if call is not None:
            self.rpc(url, "tools/call", {"name": call[0], "arguments": call[1]}, headers, rid=3)
        if delete and self.session_id:
            self.send("DELETE", url, headers, None)

    def save(self, outdir: Path) -> None:
        upstream_events = {
            n: u.events()[self.marks[n] :]
            for n, u in self.proxy.upstreams.items()
            if u.events()[self.marks[n] :]
        }
        doc = {
            "scenario": self.name,
            "description": self.description,
            "exchanges": self.exchanges,
            "upstream_events": upstream_events,
        }
        text = scrub(json.dumps(doc, indent=2, ensure_ascii=False))
        (outdir / f"{self.name}.json").write_text(text + "\n", encoding="utf-8")
        self.client.close()


def _rpc_result(parsed: Any) -> dict[str, Any] | None:
    if isinstance(parsed, dict) and "sse_events" in parsed:
        for ev in parsed["sse_events"]:
            j = ev.get("json")
            if isinstance(j, dict) and "result" in j:
                return j.get("result")
        return None
    if isinstance(parsed, dict):
        return parsed.get("result")
    return None


def run(proxy: LiteLLMProxy, outdir: Path) -> None:
    key = proxy.master_key
    kh = {"x-litellm-api-key": f"Bearer {key}", "x-litellm-mcp-debug": "true"}
    ah = {"authorization": f"Bearer {key}", "x-litellm-mcp-debug": "true"}
    b = proxy.base_url
    echo = ("echo", {"text": "nonce-" + uuid.uuid4().hex[:8]})

    def scenario(name: str, description: str) -> Recorder:
        return Recorder(proxy, name, description)

    # --- URL layouts, key placement ---------------------------------------------------------
    for name, url, extra in (
        ("layout_mcp_server", f"{b}/mcp/open", {}),
        ("layout_server_mcp", f"{b}/open/mcp", {}),
        ("layout_mcp_x_mcp_servers", f"{b}/mcp", {"x-mcp-servers": "open"}),
    ):
        s = scenario(
            name,
            f"no-auth upstream 'open' via {url.replace(b, '')} {extra or ''};"
            " key in x-litellm-api-key",
        )
        s.conversation(url, kh | extra, call=("open-" + echo[0], echo[1]))
        s.save(outdir)

    s = scenario(
        "key_as_authorization", "no-auth upstream 'open' via /mcp/open; key only in Authorization"
    )
    s.conversation(f"{b}/mcp/open", ah, call=("open-echo", {"text": "via-authorization"}))
    s.save(outdir)

    s = scenario(
        "no_debug_header",
        "/mcp/open without x-litellm-mcp-debug: no x-mcp-debug-* headers expected",
    )
    s.conversation(f"{b}/mcp/open", {"x-litellm-api-key": f"Bearer {key}"})
    s.save(outdir)

    s = scenario("key_without_bearer_prefix", "x-litellm-api-key: <key> (no 'Bearer ')")
    s.conversation(f"{b}/mcp/open", {"x-litellm-api-key": key, "x-litellm-mcp-debug": "true"})
    s.save(outdir)

    # --- admission failures ------------------------------------------------------------------
    s = scenario("wrong_key", "a well-formed but unknown key, no database")
    s.initialize(
        f"{b}/mcp/open",
        {"x-litellm-api-key": "Bearer sk-wrong-" + "x" * 24, "x-litellm-mcp-debug": "true"},
    )
    s.initialize(
        f"{b}/mcp/open",
        {"authorization": "Bearer sk-wrong-" + "x" * 24, "x-litellm-mcp-debug": "true"},
        note="wrong key as Authorization",
    )
    s.rpc(
        f"{b}/mcp/open",
        "tools/list",
        {},
        {"x-litellm-api-key": "Bearer sk-wrong-" + "x" * 24},
        rid=2,
        note="tools/list without a session, wrong key",
    )
    s.save(outdir)

    s = scenario("missing_key", "no gateway key at all")
    s.initialize(f"{b}/mcp/open", {"x-litellm-mcp-debug": "true"})
    s.rpc(
        f"{b}/mcp/open",
        "tools/list",
        {},
        {"x-litellm-mcp-debug": "true"},
        rid=2,
        note="tools/list, no key",
    )
    s.initialize(f"{b}/mcp", {"x-litellm-mcp-debug": "true"}, note="aggregate /mcp, no key")
    s.save(outdir)

    s = scenario("unknown_server", "a server name LiteLLM does not know, in each layout")
    s.initialize(f"{b}/mcp/nosuchserver", kh, note="/mcp/nosuchserver")
    s.initialize(f"{b}/nosuchserver/mcp", kh, note="/nosuchserver/mcp")
    s.initialize(
        f"{b}/mcp",
        kh | {"x-mcp-servers": "nosuchserver"},
        note="/mcp with x-mcp-servers: nosuchserver",
    )
    s.session_id = None
    s.rpc(
        f"{b}/mcp",
        "tools/list",
        {},
        kh | {"x-mcp-servers": "nosuchserver"},
        rid=2,
        note="tools/list on /mcp with x-mcp-servers: nosuchserver, no session",
    )
    s.save(outdir)

    # --- upstream auth scenarios -----------------------------------------------------------
    s = scenario("static_bearer", "auth_type bearer_token: LiteLLM sends its configured token")
    s.conversation(f"{b}/mcp/bearer", kh, call=("bearer-echo", {"text": "bearer-ok"}))
    s.save(outdir)

    s = scenario("per_request_header", "x-mcp-headers-x-api-key forwarded as x-api-key")
    s.conversation(
        f"{b}/mcp/headers",
        kh | {"x-mcp-headers-x-api-key": HEADER_VALUE},
        call=("headers-echo", {"text": "header-ok"}),
    )
    s.save(outdir)

    s = scenario("per_request_header_missing", "the headers server without the per-request header")
    s.conversation(f"{b}/mcp/headers", kh, call=("headers-echo", {"text": "header-missing"}))
    s.save(outdir)

    s = scenario(
        "per_request_header_authorization",
        "x-mcp-headers-authorization (per-server Authorization) on the headers server",
    )
    s.conversation(
        f"{b}/mcp/headers",
        kh
        | {
            "x-mcp-headers-authorization": "Bearer per-server-token",
            "x-mcp-headers-x-api-key": HEADER_VALUE,
        },
        call=("headers-echo", {"text": "hdr-auth"}),
    )
    s.save(outdir)

    s = scenario(
        "m2m_client_credentials",
        "auth_type oauth2 + oauth2_flow client_credentials, real token endpoint",
    )
    s.conversation(f"{b}/mcp/m2m", kh, call=("m2m-echo", {"text": "m2m-ok"}))
    s.save(outdir)

    s = scenario(
        "authcode_no_token", "auth_type oauth2 + authorization_code, no stored per-user token"
    )
    s.conversation(f"{b}/mcp/authcode", kh, call=("authcode-echo", {"text": "x"}))
    s.session_id = None
    s.rpc(f"{b}/mcp/authcode", "tools/list", {}, kh, rid=2, note="tools/list without session")
    s.send(
        "GET",
        f"{b}/.well-known/oauth-protected-resource/mcp/authcode",
        {},
        None,
        mcp=False,
        note="protected-resource metadata LiteLLM serves for the server",
    )
    s.send(
        "GET",
        f"{b}/.well-known/oauth-authorization-server",
        {},
        None,
        mcp=False,
        note="authorization-server metadata LiteLLM serves",
    )
    s.save(outdir)

    s = scenario(
        "passthrough_separate_token",
        "true_passthrough: key in x-litellm-api-key, an upstream token in Authorization",
    )
    s.conversation(
        f"{b}/mcp/passthrough",
        kh | {"authorization": "Bearer upstream-user-token-123456"},
        call=("passthrough-echo", {"text": "pt-ok"}),
    )
    s.save(outdir)

    s = scenario(
        "passthrough_key_as_authorization",
        "true_passthrough: gateway key only in Authorization (leaks to the upstream)",
    )
    s.conversation(f"{b}/mcp/passthrough", ah, call=("passthrough-echo", {"text": "pt-leak"}))
    s.save(outdir)

    s = scenario(
        "passthrough_no_authorization",
        "true_passthrough: key in x-litellm-api-key, no Authorization",
    )
    s.conversation(f"{b}/mcp/passthrough", kh, call=("passthrough-echo", {"text": "pt-none"}))
    s.save(outdir)

    s = scenario(
        "open_key_as_authorization_is_not_forwarded",
        "no-auth server with key in Authorization: oauth2-token header and what reached upstream",
    )
    s.rpc(f"{b}/mcp/open", "tools/list", {}, ah, rid=2, note="tools/list without initialize")
    s.save(outdir)

    # --- aggregate --------------------------------------------------------------------------
    s = scenario(
        "aggregate_mcp", "aggregate /mcp over every configured server, key in x-litellm-api-key"
    )
    s.conversation(
        f"{b}/mcp",
        kh | {"x-mcp-headers-x-api-key": HEADER_VALUE},
        call=("open-echo", {"text": "agg-ok"}),
    )
    s.save(outdir)

    s = scenario("aggregate_mcp_subset", "/mcp with x-mcp-servers: open,bearer")
    s.conversation(f"{b}/mcp", kh | {"x-mcp-servers": "open,bearer"})
    s.save(outdir)

    s = scenario(
        "aggregate_mcp_key_as_authorization", "aggregate /mcp with the key in Authorization"
    )
    s.conversation(f"{b}/mcp", ah)
    s.save(outdir)

    # --- other MCP methods, protocol versions, GET stream -----------------------------------
    s = scenario(
        "other_methods", "ping, resources/list, prompts/list, GET stream, unknown tool on /mcp/open"
    )
    s.initialize(f"{b}/mcp/open", kh)
    s.notify(f"{b}/mcp/open", "notifications/initialized", kh)
    s.rpc(f"{b}/mcp/open", "ping", None, kh, rid=4)
    s.rpc(f"{b}/mcp/open", "resources/list", {}, kh, rid=5)
    s.rpc(f"{b}/mcp/open", "prompts/list", {}, kh, rid=6)
    s.rpc(f"{b}/mcp/open", "tools/call", {"name": "open-nosuchtool", "arguments": {}}, kh, rid=7)
    s.rpc(
        f"{b}/mcp/open",
        "tools/call",
        {"name": "open-fail", "arguments": {"message": "tool says no"}},
        kh,
        rid=8,
    )
    s.rpc(f"{b}/mcp/open", "tools/call", {"name": "open-http500", "arguments": {}}, kh, rid=9)
    s.send("DELETE", f"{b}/mcp/open", kh, None)
    s.rpc(f"{b}/mcp/open", "tools/list", {}, kh, rid=10, note="tools/list on the deleted session")
    s.save(outdir)

    s = scenario(
        "get_stream", "GET on the MCP endpoint (server-to-client stream), with and without session"
    )
    s.send(
        "GET",
        f"{b}/mcp/open",
        kh | {"accept": "text/event-stream"},
        None,
        mcp=False,
        note="no session",
    )
    s.save(outdir)

    for version in ("2025-06-18", "2025-03-26", "2024-11-05", "2026-07-28", "2099-01-01"):
        s = scenario(
            f"protocol_{version.replace('-', '_')}", f"initialize requesting {version} on /mcp/open"
        )
        s.initialize(f"{b}/mcp/open", kh, version=version)
        if s.session_id:
            s.rpc(f"{b}/mcp/open", "tools/list", {}, kh, rid=2)
        s.save(outdir)

    s = scenario("server_discover", "server/discover (2026-07-28 stateless) on /mcp/open")
    s.send(
        "POST",
        f"{b}/mcp/open",
        kh | {"mcp-protocol-version": "2026-07-28"},
        {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}},
    )
    s.save(outdir)

    # --- upstream stopped -------------------------------------------------------------------
    flaky = proxy.upstreams["flaky"]
    with flaky.stopped():
        s = scenario("upstream_stopped", "the 'flaky' upstream stopped while LiteLLM keeps running")
        s.conversation(f"{b}/mcp/flaky", kh, call=("flaky-echo", {"text": "down"}))
        s.session_id = None
        s.rpc(f"{b}/mcp/flaky", "tools/list", {}, kh, rid=2, note="tools/list without a session")
        s.save(outdir)
        s = scenario("upstream_stopped_aggregate", "aggregate /mcp with 'flaky' stopped")
        s.conversation(f"{b}/mcp", kh)
        s.save(outdir)

    # --- issue 9: chat completions / responses with an MCP tool -----------------------------
    mcp_tool = {
        "type": "mcp",
        "server_label": "open",
        "server_url": "litellm_proxy/mcp/open",
        "require_approval": "never",
    }
    chat = f"{b}/v1/chat/completions"
    responses = f"{b}/v1/responses"
    auth = {"authorization": f"Bearer {key}"}

    def chat_body(model: str, prompt: str, server: str = "open") -> dict[str, Any]:
        tool = mcp_tool | {"server_label": server, "server_url": f"litellm_proxy/mcp/{server}"}
        return {"model": model, "messages": [{"role": "user", "content": prompt}], "tools": [tool]}

    def resp_body(model: str, prompt: str, server: str = "open") -> dict[str, Any]:
        tool = mcp_tool | {"server_label": server, "server_url": f"litellm_proxy/mcp/{server}"}
        return {"model": model, "input": prompt, "tools": [tool]}

    nonce = "nonce-" + uuid.uuid4().hex[:12]
    cases = [
        ("chat_mock_healthy", chat, chat_body(proxy.chat_model, "probe"), None),
        ("responses_mock_healthy", responses, resp_body(proxy.responses_model, "probe"), None),
        (
            "chat_custom_healthy",
            chat,
            chat_body(proxy.custom_model, f'call open-echo {{"text": "{nonce}"}}'),
            None,
        ),
        (
            "responses_custom_healthy",
            responses,
            resp_body(proxy.custom_model, f'call open-echo {{"text": "{nonce}-r"}}'),
            None,
        ),
        (
            "chat_custom_tool_fails",
            chat,
            chat_body(proxy.custom_model, 'call open-fail {"message": "tool-broke"}'),
            None,
        ),
        (
            "chat_custom_wrong_tool",
            chat,
            chat_body(proxy.custom_model, "call open-nosuchtool {}"),
            None,
        ),
        ("chat_custom_http500", chat, chat_body(proxy.custom_model, "call open-http500 {}"), None),
        ("chat_custom_model_fails_before", chat, chat_body(proxy.custom_model, "fail"), None),
        (
            "chat_custom_model_fails_after",
            chat,
            chat_body(proxy.custom_model, 'fail-after call open-echo {"text": "after"}'),
            None,
        ),
        (
            "responses_custom_model_fails_after",
            responses,
            resp_body(proxy.custom_model, 'fail-after call open-echo {"text": "after"}'),
            None,
        ),
        (
            "responses_custom_tool_fails",
            responses,
            resp_body(proxy.custom_model, 'call open-fail {"message": "tool-broke"}'),
            None,
        ),
        (
            "responses_custom_model_fails_before",
            responses,
            resp_body(proxy.custom_model, "fail"),
            None,
        ),
        (
            "chat_custom_upstream_down",
            chat,
            chat_body(proxy.custom_model, 'call flaky-echo {"text": "down"}', "flaky"),
            "stop",
        ),
        (
            "responses_custom_upstream_down",
            responses,
            resp_body(proxy.custom_model, 'call flaky-echo {"text": "down"}', "flaky"),
            "stop",
        ),
        (
            "chat_custom_upstream_dies_mid_call",
            chat,
            chat_body(proxy.custom_model, "call flaky-crash {}", "flaky"),
            "restart",
        ),
        (
            "chat_mock_streaming",
            chat,
            chat_body(proxy.chat_model, "probe") | {"stream": True},
            None,
        ),
        ("chat_mock_wrong_key", chat, chat_body(proxy.chat_model, "probe"), "wrongkey"),
    ]
    for name, url, body, special in cases:
        s = scenario(
            name, f"POST {url.replace(b, '')} model={body['model']} ({special or 'normal'})"
        )
        headers = dict(auth)
        if special == "wrongkey":
            headers = {"authorization": "Bearer sk-wrong-" + "x" * 24}
        if special == "stop":
            with flaky.stopped():
                s.send("POST", url, headers, body, mcp=False)
        else:
            s.send("POST", url, headers, body, mcp=False)
            if special == "restart":
                flaky.stop()
                flaky.start()
        s.save(outdir)


def main() -> None:
    outdir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "testdata" / "litellm"
    outdir.mkdir(parents=True, exist_ok=True)
    import tempfile

    proxy = start_litellm_proxy(Path(tempfile.mkdtemp(prefix="litellm-capture-")))
    PLACEHOLDERS[proxy.master_key] = "<LITELLM_MASTER_KEY>"
    try:
        run(proxy, outdir)
    finally:
        proxy.stop()
    print(f"captures written to {outdir}; LiteLLM log: {proxy.log_path}")


if __name__ == "__main__":
    main()
