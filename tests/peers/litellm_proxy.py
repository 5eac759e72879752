"""The LiteLLM proxy test peer: a real `litellm[proxy]==1.106.0` in front of SDK upstreams.

Session-scoped fixtures (LiteLLM takes ~10 s to start):

- `litellm_proxy` -> `LiteLLMProxy`: base URL, master key, the upstreams by LiteLLM server name,
  URL helpers for the three layouts, and the probe model names.
- `litellm_upstreams` -> the same upstreams (dict of name -> `Upstream`).

Upstreams (LiteLLM server name: scenario):

- `open`        no auth (`auth_type: none`)
- `bearer`      static bearer token configured in LiteLLM (`auth_type: bearer_token`)
- `headers`     per-request header: the client sends `x-mcp-headers-x-api-key: <HEADER_VALUE>`
- `m2m`         `auth_type: oauth2`, `oauth2_flow: client_credentials`, real token endpoint
- `authcode`    `auth_type: oauth2`, `oauth2_flow: authorization_code`, no stored token
- `passthrough` `auth_type: true_passthrough` (the client's `Authorization` goes upstream)
- `flaky`       no auth; tests stop and restart it (`with proxy.upstreams["flaky"].stopped(): ...`)
- `wrongbearer` `auth_type: bearer_token` whose configured token the upstream refuses (401)
- `m2mbad`      `auth_type: oauth2` client_credentials whose token endpoint refuses LiteLLM's
                client secret (`invalid_client`), so LiteLLM never gets a token
- `m2mdown`     the same with its `token_url` on a closed local port (token endpoint down)
- `strictpass`  `auth_type: true_passthrough` whose upstream accepts only `PASSTHROUGH_TOKEN`

Probe models (never reach a provider; `api_base` points at a closed local port):

- `mcp-probe-chat`       `openai/mcp-probe` with `mock_tool_calls` (`open-echo`) and `mock_response`
- `mcp-probe-responses`  `anthropic/mcp-probe` with `mock_tool_calls` only (for /v1/responses)
- `mcp-probe`            the deterministic custom provider (`probe_provider.py`): user message
                         `call <server>-<tool> <json-args>`; answers with the tool output.

Run this file directly to start the whole peer for manual exploration; it prints the URLs and key.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest

PEERS_DIR = Path(__file__).resolve().parent
LITELLM_DIR = PEERS_DIR / "litellm"
LITELLM_PYTHON = LITELLM_DIR / ".venv" / "bin" / "python"
UPSTREAMS_SCRIPT = PEERS_DIR / "upstreams.py"
PROBE_PROVIDER = LITELLM_DIR / "probe_provider.py"

BEARER_TOKEN = "upstream-static-" + "b" * 16
WRONG_BEARER_TOKEN = "upstream-stale-" + "w" * 16
PASSTHROUGH_TOKEN = "user-passthrough-" + "p" * 16
HEADER_NAME = "x-api-key"
HEADER_VALUE = "upstream-header-" + "h" * 16
OAUTH_CLIENT_ID = "mcp-exporter-test"
OAUTH_CLIENT_SECRET = "upstream-client-secret-" + "c" * 16
CHAT_MODEL = "mcp-probe-chat"
RESPONSES_MODEL = "mcp-probe-responses"
CUSTOM_MODEL = "mcp-probe"
MOCK_TOOL_TEXT = "litellm-mock-probe"
MOCK_FINAL_TEXT = "mcp probe finished"
START_TIMEOUT = 90.0


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"process exited with {proc.returncode}; log:\n{log.read_text()[-4000:]}"
            )
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.5),
        ):
            return
        time.sleep(0.1)
    raise TimeoutError(
        f"port {port} not listening after {timeout}s; log:\n{log.read_text()[-4000:]}"
    )


def _terminate(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@dataclass
class Upstream:
    """One SDK MCP server behind LiteLLM, in its own process so it can be stopped and restarted."""

    name: str
    kind: str
    port: int
    events_path: Path
    log_path: Path
    extra_args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The upstream's MCP endpoint, as configured in LiteLLM."""
        return f"http://127.0.0.1:{self.port}/mcp"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start (or restart on the same port) and wait until it listens."""
        if self.running:
            return
        argv = [
            sys.executable,
            str(UPSTREAMS_SCRIPT),
            "--kind",
            self.kind,
            "--name",
            self.name,
            "--port",
            str(self.port),
            "--events",
            str(self.events_path),
            *self.extra_args,
        ]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        _wait_for_port(self.port, self.process, 30, self.log_path)

    def stop(self) -> None:
        _terminate(self.process)
        self.process = None

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """Stop the upstream for the body of the `with`, restart it afterwards."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def events(self, type: str | None = None) -> list[dict[str, Any]]:  # noqa: A002 - the events' field
        """Everything the upstream recorded (HTTP requests, tool calls, token requests)."""
        if not self.events_path.exists():
            return []
        lines = self.events_path.read_text(encoding="utf-8").splitlines()
        events = [json.loads(line) for line in lines if line.strip()]
        return [e for e in events if type is None or e.get("type") == type]

    def tool_calls(self, tool: str | None = None) -> list[dict[str, Any]]:
        """The `tools/call` invocations that reached the tool body, oldest first."""
        return [e for e in self.events("tool_call") if tool is None or e["tool"] == tool]


@dataclass
class LiteLLMProxy:
    """A running LiteLLM proxy and the upstreams configured in it."""

    base_url: str
    master_key: str
    upstreams: dict[str, Upstream]
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    chat_model: str = CHAT_MODEL
    responses_model: str = RESPONSES_MODEL
    custom_model: str = CUSTOM_MODEL

    @property
    def server_names(self) -> tuple[str, ...]:
        return tuple(self.upstreams)

    def mcp_url(self, server: str | None = None, layout: str = "mcp/{server}") -> str:
        """`/mcp` without a server, else `/mcp/{server}` (or the given layout, `{server}/mcp`)."""
        if server is None:
            return f"{self.base_url}/mcp"
        return f"{self.base_url}/" + layout.format(server=server)

    def key_headers(self, *, as_authorization: bool = False, debug: bool = True) -> dict[str, str]:
        """The gateway key (as `x-litellm-api-key` or `Authorization`) and the debug opt-in."""
        name = "authorization" if as_authorization else "x-litellm-api-key"
        headers = {name: f"Bearer {self.master_key}"}
        if debug:
            headers["x-litellm-mcp-debug"] = "true"
        return headers

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        _terminate(self.process)
        self.process = None
        for upstream in self.upstreams.values():
            upstream.stop()


def _config(upstreams: dict[str, Upstream], closed_port: int) -> dict[str, Any]:
    dead_base = f"http://127.0.0.1:{closed_port}"
    mock_call = {
        "id": "call_mcp_probe_1",
        "type": "function",
        "function": {"name": "open-echo", "arguments": json.dumps({"text": MOCK_TOOL_TEXT})},
    }
    servers: dict[str, dict[str, Any]] = {}
    for name, up in upstreams.items():
        entry: dict[str, Any] = {
            "url": up.url,
            "transport": "http",
            "description": f"{up.kind} upstream",
        }
        if up.kind in ("open",):
            entry["auth_type"] = "none"
        elif up.kind == "bearer":
            token = WRONG_BEARER_TOKEN if name == "wrongbearer" else BEARER_TOKEN
            entry |= {"auth_type": "bearer_token", "authentication_token": token}
        elif up.kind == "headers":
            entry["auth_type"] = "none"
        elif up.kind == "m2m":
            entry |= {
                "auth_type": "oauth2",
                "oauth2_flow": "client_credentials",
                "client_id": OAUTH_CLIENT_ID,
                "client_secret": "not-the-secret" if name == "m2mbad" else OAUTH_CLIENT_SECRET,
                "token_url": f"http://127.0.0.1:{up.port}/oauth/token",
            }
            if name == "m2mdown":
                entry["token_url"] = f"{dead_base}/oauth/token"
        elif up.kind == "authcode":
            entry |= {
                "auth_type": "oauth2",
                "oauth2_flow": "authorization_code",
                "client_id": OAUTH_CLIENT_ID,
                "client_secret": OAUTH_CLIENT_SECRET,
                "authorization_url": f"http://127.0.0.1:{up.port}/oauth/authorize",
                "token_url": f"http://127.0.0.1:{up.port}/oauth/token",
            }
        elif up.kind == "passthrough":
            entry["auth_type"] = "true_passthrough"
        servers[name] = entry
    return {
        "model_list": [
            {
                "model_name": CHAT_MODEL,
                "litellm_params": {
                    "model": "openai/mcp-probe",
                    "api_key": "unused",
                    "api_base": dead_base,
                    "mock_tool_calls": [mock_call],
                    "mock_response": MOCK_FINAL_TEXT,
                },
            },
            {
                "model_name": RESPONSES_MODEL,
                "litellm_params": {
                    "model": "anthropic/mcp-probe",
                    "api_key": "unused",
                    "api_base": dead_base,
                    "mock_tool_calls": [mock_call],
                },
            },
            {
                "model_name": CUSTOM_MODEL,
                "litellm_params": {
                    "model": "mcpprobe/echo",
                    "api_key": "unused",
                    "api_base": dead_base,
                },
            },
        ],
        "mcp_servers": servers,
        "litellm_settings": {
            "custom_provider_map": [
                {"provider": "mcpprobe", "custom_handler": "probe_provider.handler"}
            ],
            "num_retries": 0,
            "request_timeout": 30,
        },
        "router_settings": {"num_retries": 0},
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }


UPSTREAM_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "open": ("open", ()),
    "bearer": ("bearer", ("--token", BEARER_TOKEN)),
    "headers": ("headers", ("--header-name", HEADER_NAME, "--header-value", HEADER_VALUE)),
    "m2m": ("m2m", ("--client-id", OAUTH_CLIENT_ID, "--client-secret", OAUTH_CLIENT_SECRET)),
    "authcode": (
        "authcode",
        ("--client-id", OAUTH_CLIENT_ID, "--client-secret", OAUTH_CLIENT_SECRET),
    ),
    "passthrough": ("passthrough", ()),
    "flaky": ("open", ()),
    "wrongbearer": ("bearer", ("--token", BEARER_TOKEN)),
    "m2mbad": ("m2m", ("--client-id", OAUTH_CLIENT_ID, "--client-secret", OAUTH_CLIENT_SECRET)),
    "strictpass": ("passthrough", ("--token", PASSTHROUGH_TOKEN)),
    "m2mdown": ("m2m", ("--client-id", OAUTH_CLIENT_ID, "--client-secret", OAUTH_CLIENT_SECRET)),
}


def _http_ready(url: str, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"LiteLLM exited with {proc.returncode}; log:\n{log.read_text()[-6000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise TimeoutError(f"LiteLLM not ready after {timeout}s; log:\n{log.read_text()[-6000:]}")


class Launched(NamedTuple):
    """A LiteLLM proxy process just started (not yet ready)."""

    port: int
    master_key: str
    log_path: Path
    process: subprocess.Popen[bytes]


def launch_litellm(
    workdir: Path, config_path: Path, extra_env: Mapping[str, str] | None = None
) -> Launched:
    """Start LiteLLM on 127.0.0.1 with `config_path` and a fresh master key. Provider, database
    and LiteLLM settings of the environment are dropped (a developer's must not change what the
    tests see); loopback is never proxied. Its output goes to `workdir/litellm.log`."""
    port = free_port()
    master_key = "sk-" + secrets.token_urlsafe(32)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LITELLM_", "OPENAI_", "ANTHROPIC_", "DATABASE_URL", "REDIS_"))
    }
    env |= {
        "LITELLM_MASTER_KEY": master_key,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "INFO",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "DISABLE_SCHEMA_UPDATE": "True",
        "LITELLM_TELEMETRY": "False",
        **(extra_env or {}),
    }
    log_path = workdir / "litellm.log"
    argv = [
        str(LITELLM_PYTHON),
        "-m",
        "litellm.proxy.proxy_cli",
        "--config",
        str(config_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    return Launched(port, master_key, log_path, proc)


def start_litellm_proxy(workdir: Path) -> LiteLLMProxy:
    """Start every upstream, then LiteLLM on 127.0.0.1 with them in `mcp_servers`."""
    if not LITELLM_PYTHON.exists():
        raise RuntimeError(f"{LITELLM_PYTHON} missing: run `bash tests/peers/litellm/install.sh`")
    workdir.mkdir(parents=True, exist_ok=True)
    upstreams = {
        name: Upstream(
            name=name,
            kind=kind,
            port=free_port(),
            events_path=workdir / f"upstream-{name}.jsonl",
            log_path=workdir / f"upstream-{name}.log",
            extra_args=extra,
        )
        for name, (kind, extra) in UPSTREAM_KINDS.items()
    }
    for up in upstreams.values():
        up.start()

    import yaml  # the exporter's own dependency

    config_path = workdir / "litellm-config.yaml"
    config_path.write_text(yaml.safe_dump(_config(upstreams, free_port()), sort_keys=False))
    shutil.copy(PROBE_PROVIDER, workdir / "probe_provider.py")

    port, master_key, log_path, proc = launch_litellm(workdir, config_path)
    proxy = LiteLLMProxy(
        base_url=f"http://127.0.0.1:{port}",
        master_key=master_key,
        upstreams=upstreams,
        config_path=config_path,
        log_path=log_path,
        process=proc,
    )
    try:
        _http_ready(f"{proxy.base_url}/health/liveliness", START_TIMEOUT, proc, log_path)
    except BaseException:
        proxy.stop()
        raise
    return proxy


@pytest.fixture(scope="session")
def litellm_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteLLMProxy]:
    """A running LiteLLM proxy (session scope) with the upstreams and probe models above."""
    if not LITELLM_PYTHON.exists():
        pytest.skip("LiteLLM peer not installed: run `bash tests/peers/litellm/install.sh`")
    proxy = start_litellm_proxy(tmp_path_factory.mktemp("litellm"))
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="session")
def litellm_upstreams(litellm_proxy: LiteLLMProxy) -> dict[str, Upstream]:
    """The SDK upstreams behind the proxy, by LiteLLM server name."""
    return litellm_proxy.upstreams


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="litellm-peer-"))
    proxy = start_litellm_proxy(workdir)
    print(
        json.dumps(
            {
                "base_url": proxy.base_url,
                "master_key": proxy.master_key,
                "workdir": str(workdir),
                "pid": proxy.process.pid if proxy.process else None,
                "upstreams": {
                    n: {"url": u.url, "pid": u.process.pid if u.process else None}
                    for n, u in proxy.upstreams.items()
                },
            },
            indent=2,
        ),
        flush=True,
    )

    def _exit(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _exit)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()


if __name__ == "__main__":
    main()
