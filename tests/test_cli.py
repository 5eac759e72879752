"""The command line: the exporter as a process (logs, SIGHUP, secrets) and the one-shot probe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.peers.mcp_servers import Peer, free_port, wait_for_port

INLINE = "inline-Secret-7f3a9c"
FILE_SECRET = "file-Secret-0b1d2e"
ENV_SECRET = "env-Secret-93ab77"
HEADER_SECRET = "header-Secret-55aa01"
SECRETS = (INLINE, FILE_SECRET, ENV_SECRET, HEADER_SECRET)


class Process:
    """The exporter running as a real process, with its stderr captured."""

    def __init__(self, config: Path, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exporter",
                "--config.file",
                str(config),
                "--web.listen-address",
                f"127.0.0.1:{self.port}",
                "--log.level",
                "debug",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "MCP_TEST_ENV_SECRET": ENV_SECRET},
        )
        wait_for_port(self.port, self.proc)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=20) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=15)
        self.log.close()
        return self.log_path.read_text()


@pytest.fixture
def secret_config(tmp_path: Path) -> Path:
    token = tmp_path / "token"
    token.write_text(FILE_SECRET + "\n")
    config = tmp_path / "config.yml"
    config.write_text(f"""
modules:
  inline: {{prober: mcp, mcp: {{bearer_token: {INLINE}, headers: {{X-Api-Key: {HEADER_SECRET}}}}}}}
  from_file: {{prober: mcp, mcp: {{bearer_token: {{file: {token}}}}}}}
  from_env: {{prober: mcp, mcp: {{bearer_token: {{env: MCP_TEST_ENV_SECRET}}}}}}
""")
    return config


@pytest.fixture
def process(secret_config: Path, tmp_path: Path) -> Iterator[Process]:
    proc = Process(secret_config, tmp_path / "exporter.log")
    yield proc
    if proc.proc.poll() is None:
        proc.stop()


def test_no_secret_on_any_surface(process: Process, sdk_stateful: Peer) -> None:
    """Configured secrets appear in no log, metric, /config, debug output, landing page or log."""
    outputs = []
    for module in ("inline", "from_file", "from_env"):
        for target in (
            sdk_stateful.url,
            f"http://127.0.0.1:{free_port()}/mcp",
            f"{sdk_stateful.base}/missing",
        ):
            q = f"target={quote(target, safe='')}&module={module}"
            outputs.append(process.get(f"/probe?{q}")[1])
            outputs.append(process.get(f"/probe?{q}&debug=true")[1])
    for path in ("/", "/metrics", "/config", "/logs?id=0", "/logs?id=3"):
        status, text = process.get(path)
        assert status == 200, path
        outputs.append(text)
    outputs.append(process.stop())
    everything = "\n".join(outputs)
    assert "probe_success 1" in everything  # the probes really ran
    assert "<secret>" in everything  # and the masked forms are shown
    for secret in SECRETS:
        assert secret not in everything


def test_log_line_per_probe_and_sighup_reload(
    process: Process, secret_config: Path, sdk_stateful: Peer
) -> None:
    """One structured line per probe; SIGHUP reloads; an invalid file keeps the old config."""
    process.get(f"/probe?target={quote(sdk_stateful.url, safe='')}&module=inline")
    secret_config.write_text("modules: {renamed: {prober: mcp}}\n")
    process.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "renamed" not in process.get("/config")[1] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "renamed" in process.get("/config")[1]
    secret_config.write_text("modules: {broken: {prober: nope}}\n")
    process.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert "renamed" in process.get("/config")[1]
    assert "mcp_exporter_config_last_reload_successful 0.0" in process.get("/metrics")[1]
    log = process.stop()
    probe_lines = [line for line in log.splitlines() if "event=probe " in line]
    assert len(probe_lines) == 1
    assert "module=inline" in probe_lines[0]
    assert "result=success" in probe_lines[0]
    assert "duration_seconds=" in probe_lines[0]
    assert "config reload failed" in log
    assert "event=request" in log  # aiohttp access log through structlog


def test_json_logs(tmp_path: Path, sdk_stateful: Peer) -> None:
    """--log.format json writes one JSON object per line."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "--web.listen-address",
            f"127.0.0.1:{port}",
            "--log.format",
            "json",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, proc)
        urllib.request.urlopen(
            f"http://127.0.0.1:{port}/probe?target={quote(sdk_stateful.url, safe='')}", timeout=20
        ).read()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    probe = [e for e in events if e.get("event") == "probe"]
    assert probe
    assert probe[0]["result"] == "success"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_one_shot_probe_success(sdk_stateful: Peer) -> None:
    """`probe URL` prints each phase and step and exits 0 on success."""
    result = run_cli("probe", sdk_stateful.url, "--module", "mcp_full")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "SUCCESS" in out
    for word in ("initialize", "tools_list", "ping", "sdk-test-server", "2025-11-25"):
        assert word in out


def test_one_shot_probe_failure_says_what_next() -> None:
    """On failure: hop, reason and what to check next, exit code 1; --json for machines."""
    target = f"http://127.0.0.1:{free_port()}/mcp"
    result = run_cli("probe", target)
    assert result.returncode == 1
    assert "connect_refused" in result.stdout
    assert "client_to_upstream" in result.stdout
    assert "Nothing listens there" in result.stdout
    data = json.loads(run_cli("probe", target, "--json").stdout)
    assert data["success"] is False
    assert data["failure"]["reason"] == "connect_refused"


def test_one_shot_bad_input() -> None:
    """A bad target or module is a one-line error and exit code 2."""
    result = run_cli("probe", "ftp://x")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: target scheme must be http or https, got 'ftp'"
    result = run_cli("probe", "http://127.0.0.1/", "--module", "nope")
    assert result.returncode == 2
    assert "unknown module 'nope'" in result.stderr


async def test_echoed_credentials_are_scrubbed(tmp_path: Path) -> None:
    """A server echoing the Authorization header in its error body leaks nothing."""
    from aiohttp import web

    from exporter.app import Settings, create_app
    from tests import fakes
    from tests.conftest import Exporter

    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=400, text=f"bad request with {request.headers['Authorization']}")

    async def echo_forbidden(request: web.Request) -> web.Response:
        return web.Response(status=403, text=f"denied for {request.headers['X-Api-Key']}")

    config = tmp_path / "c.yml"
    config.write_text(
        f"modules:\n  m: {{prober: mcp, mcp: {{bearer_token: {INLINE}}}}}\n"
        f"  h: {{prober: mcp, mcp: {{headers: {{X-Api-Key: {HEADER_SECRET}}}}}}}\n"
    )
    from aiohttp import ClientSession
    from aiohttp.test_utils import TestServer

    server = TestServer(create_app(Settings(config_file=config)), host="127.0.0.1")
    await server.start_server()
    exporter = Exporter(server, ClientSession())
    try:
        texts = []
        for module, handler in (("m", echo), ("h", echo_forbidden)):
            async with fakes.serve(handler) as url:
                texts.append((await exporter.get("/probe", target=url, module=module))[1])
                texts.append(
                    (await exporter.get("/probe", target=url, module=module, debug="true"))[1]
                )
        texts.append((await exporter.get("/logs", id="1"))[1])
        everything = "\n".join(texts)
        assert "bad request with <secret>" in everything
        assert "denied for <secret>" in everything
        assert INLINE not in everything
        assert HEADER_SECRET not in everything
    finally:
        await exporter.client.close()
        await server.close()
