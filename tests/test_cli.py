"""The command line: the exporter as a process (logs, SIGHUP, secrets) and the one-shot probe."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import ExporterFactory, parse_metrics
from tests.exporter_process import ExporterProcess, StartExporter
from tests.peers.mcp_servers import Peer, free_port, wait_for_port

INLINE = "inline-Secret-7f3a9c"
FILE_SECRET = "file-Secret-0b1d2e"
ENV_SECRET = "env-Secret-93ab77"
HEADER_SECRET = "header-Secret-55aa01"
SECRETS = (INLINE, FILE_SECRET, ENV_SECRET, HEADER_SECRET)


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
def process(secret_config: Path, start_exporter: StartExporter) -> ExporterProcess:
    return start_exporter(
        "--config.file",
        str(secret_config),
        "--log.level",
        "debug",
        env={"MCP_TEST_ENV_SECRET": ENV_SECRET},
    )


def test_no_secret_on_any_surface(process: ExporterProcess, sdk_stateful: Peer) -> None:
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
    process: ExporterProcess, secret_config: Path, sdk_stateful: Peer
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
    metrics = parse_metrics(process.get("/metrics")[1])
    assert metrics["mcp_exporter_config_last_reload_successful"] == 0
    log = process.stop()
    probe_lines = [line for line in log.splitlines() if "event=probe " in line]
    assert len(probe_lines) == 1
    assert "module=inline" in probe_lines[0]
    assert "result=success" in probe_lines[0]
    assert "duration_seconds=" in probe_lines[0]
    assert "config reload failed" in log
    assert "event=request" in log  # aiohttp access log through structlog


def test_json_logs(start_exporter: StartExporter, sdk_stateful: Peer) -> None:
    """--log.format json writes one JSON object per line."""
    process = start_exporter("--log.format", "json")
    status, _ = process.get(f"/probe?target={quote(sdk_stateful.url, safe='')}")
    assert status == 200
    lines = process.stop().splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(events) == len([line for line in lines if line.strip()])  # nothing else
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


async def test_echoed_credentials_are_scrubbed(make_exporter: ExporterFactory) -> None:
    """A server echoing the Authorization header in its error body leaks nothing."""
    from aiohttp import web

    from tests import fakes

    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=400, text=f"bad request with {request.headers['Authorization']}")

    async def echo_forbidden(request: web.Request) -> web.Response:
        return web.Response(status=403, text=f"denied for {request.headers['X-Api-Key']}")

    exporter = await make_exporter(
        f"modules:\n  m: {{prober: mcp, mcp: {{bearer_token: {INLINE}}}}}\n"
        f"  h: {{prober: mcp, mcp: {{headers: {{X-Api-Key: {HEADER_SECRET}}}}}}}\n"
    )
    texts = []
    for module, handler in (("m", echo), ("h", echo_forbidden)):
        async with fakes.serve(handler) as url:
            texts.append((await exporter.get("/probe", target=url, module=module))[1])
            texts.append((await exporter.get("/probe", target=url, module=module, debug="true"))[1])
    texts.append((await exporter.get("/logs", id="1"))[1])
    everything = "\n".join(texts)
    assert "bad request with <secret>" in everything
    assert "denied for <secret>" in everything
    assert INLINE not in everything
    assert HEADER_SECRET not in everything


CUSTOM_MODULE = "modules:\n  only_in_file: {prober: mcp, timeout: 3s}\n"


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_one_shot_probe_uses_config_file(tmp_path: Path, sdk_stateful: Peer, before: bool) -> None:
    """`--config.file X` counts on either side of `probe`: X's modules are the ones probed."""
    config = tmp_path / "c.yml"
    config.write_text(CUSTOM_MODULE)
    flags = ("--config.file", str(config))
    probe = ("probe", sdk_stateful.url, "--module", "only_in_file", "--json")
    result = run_cli(*flags, *probe) if before else run_cli(*probe, *flags)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert (report["module"], report["success"]) == ("only_in_file", True)
    assert "timeout_seconds=3.0" in report["log"][0]  # the file's module, not a built-in one
    # The built-in config has no such module, so this would have failed with the old parsing.
    assert "unknown module 'only_in_file'" in run_cli(*probe).stderr


def test_one_shot_probe_reports_a_bad_config_file_given_first(tmp_path: Path) -> None:
    """A missing or invalid file given before `probe` is an error, not a fall back to defaults."""
    missing = tmp_path / "missing.yml"
    result = run_cli("--config.file", str(missing), "probe", "http://127.0.0.1:1/mcp")
    assert result.returncode == 2
    assert result.stderr.strip() == f"{missing}: cannot read file: No such file or directory"
    bad = tmp_path / "bad.yml"
    bad.write_text("modules: {m: {prober: nope}}\n")
    result = run_cli(f"--config.file={bad}", "--event-loop", "asyncio", "probe", "http://x/")
    assert result.returncode == 2
    assert str(bad) in result.stderr


def test_flags_after_the_subcommand_win() -> None:
    """A flag given on both sides of the subcommand takes the later value; one given only before
    keeps its value (argparse's subcommand defaults used to overwrite it)."""
    from exporter.cli import parse_args

    before = ["--config.file", "a.yml", "--log.level", "debug", "--log.format", "json"]
    args = parse_args(
        [*before, "--event-loop", "asyncio", "probe", "http://x/", "--config.file", "b.yml"]
    )
    assert (str(args.config_file), args.log_level, args.log_format, args.event_loop) == (
        "b.yml",
        "debug",
        "json",
        "asyncio",
    )
    args = parse_args(["--log.level", "error", "demo-server"])
    assert args.log_level == "error"
    assert parse_args(["--web.listen-address", ":9000", "demo"]).listen == ":9000"
    assert parse_args(["demo"]).listen == "127.0.0.1:9675"
    assert parse_args([]).listen == ":9675"
    served = parse_args(["--history.limit", "7", "--web.shutdown-timeout", "2"])
    assert (served.history_limit, served.shutdown_timeout, served.config_file) == (7, 2.0, None)


@pytest.mark.parametrize(
    ("flag", "command"),
    [
        (["--web.listen-address", ":1"], ["probe", "http://x/"]),
        (["--web.config.file", "w.yml"], ["probe", "http://x/"]),
        (["--config.check"], ["probe", "http://x/"]),
        (["--timeout-offset", "1"], ["probe", "http://x/"]),
        (["--probes.max-concurrent", "1"], ["probe", "http://x/"]),
        (["--config.file", "c.yml"], ["demo"]),
        (["--config.file", "c.yml"], ["demo-server"]),
    ],
)
def test_flags_that_do_not_apply_are_refused(flag: list[str], command: list[str]) -> None:
    """A flag the command would ignore is a usage error (exit 2) naming flag and command."""
    result = run_cli(*flag, *command)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"mcp-exporter: error: {flag[0]} does not apply to the {command[0]} command"
    )


def test_ready_only_once_the_config_is_loaded(
    tmp_path: Path, start_exporter: StartExporter, sdk_stateful: Peer
) -> None:
    """While the config loads (here: a FIFO nobody has written yet) the exporter is healthy but
    answers /-/ready with 503; a scrape sent meanwhile waits and then succeeds; once loaded,
    /-/ready is 200."""
    config = tmp_path / "config.yml"
    os.mkfifo(config)
    process = start_exporter("--config.file", str(config), wait=False)
    wait_for_port(process.port, process.proc)
    assert process.get("/-/healthy") == (200, "Healthy\n")
    assert process.get("/-/ready") == (503, "Not ready: the configuration is not loaded yet\n")
    answers: list[tuple[int, str]] = []
    target = quote(sdk_stateful.url, safe="")
    scrape = threading.Thread(
        target=lambda: answers.append(process.get(f"/probe?target={target}&module=only_in_file"))
    )
    scrape.start()
    time.sleep(0.5)
    assert scrape.is_alive()  # waiting for the config, not refused
    assert process.get("/-/ready")[0] == 503
    config.write_text(CUSTOM_MODULE)
    scrape.join(timeout=20)
    status, body = answers[0]
    assert status == 200, body
    assert parse_metrics(body)["probe_success"] == 1
    assert process.get("/-/ready") == (200, "Ready\n")
    assert (
        parse_metrics(process.get("/metrics")[1])["mcp_exporter_config_last_reload_successful"] == 1
    )


def test_sigterm_while_the_config_loads(tmp_path: Path, start_exporter: StartExporter) -> None:
    """A config read that never finishes does not keep SIGTERM from ending the process."""
    config = tmp_path / "config.yml"
    os.mkfifo(config)
    process = start_exporter("--config.file", str(config), wait=False)
    wait_for_port(process.port, process.proc)
    assert process.get("/-/ready")[0] == 503
    started = time.monotonic()
    process.signal(signal.SIGTERM)
    assert process.proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 5


def test_invalid_config_at_start(tmp_path: Path, start_exporter: StartExporter) -> None:
    """An invalid config at start: exit 1 with one log line per problem, never ready."""
    config = tmp_path / "config.yml"
    config.write_text("modules: {m: {prober: nope}}\n")
    process = start_exporter("--config.file", str(config), wait=False)
    assert process.proc.wait(timeout=30) == 1
    errors = [line for line in process.log().splitlines() if "level=error" in line]
    assert errors
    assert all('event="invalid configuration"' in line for line in errors), errors
    assert all(f"source={config}" in line for line in errors)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--history.limit", "-1"], "argument --history.limit: expected an integer >= 0, got '-1'"),
        (
            ["--probes.max-concurrent", "0"],
            "argument --probes.max-concurrent: expected an integer >= 1, got '0'",
        ),
        (
            ["--timeout-offset", "nan"],
            "argument --timeout-offset: expected seconds (a number >= 0), got 'nan'",
        ),
        (
            ["--web.shutdown-timeout", "-1"],
            "argument --web.shutdown-timeout: expected seconds (a number >= 0), got '-1'",
        ),
        (
            ["probe", "http://x/", "--timeout", "inf"],
            "argument --timeout: expected seconds (a number > 0), got 'inf'",
        ),
        (
            ["probe", "http://x/", "--timeout", "0"],
            "argument --timeout: expected seconds (a number > 0), got '0'",
        ),
    ],
)
def test_numeric_flags_out_of_range_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A negative history crashed at start; NaN offsets and timeouts made every probe an
    internal error; a timeout of 0 silently became the module's."""
    from exporter.cli import parse_args

    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"error: {message}")


def test_listen_addresses_that_cannot_be_served(tmp_path: Path) -> None:
    """A port out of range (uvloop served another port) and a port in use (a traceback) are
    one line on stderr and exit 1."""
    result = run_cli("--web.listen-address", ":99999")
    assert (result.returncode, result.stderr) == (
        1,
        "--web.listen-address: port 99999 is out of range 0-65535\n",
    )
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("--web.listen-address", f"127.0.0.1:{port}")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert 'event="cannot listen"' in lines[0]
    assert f"address=127.0.0.1:{port}" in lines[0]
    assert 'error="address already in use"' in lines[0]


def test_a_malformed_request_is_logged_without_its_request_line(
    start_exporter: StartExporter,
) -> None:
    """aiohttp's error for a request it cannot parse quotes the request line; a token in the
    query string reached the log (at error level, with a traceback)."""
    process = start_exporter()
    token = "tok-Secret-4be1c0"
    for request in (
        f"GET /probe?target=http://x/?token={token}\xff HTTP/1.1\r\n\r\n".encode("latin-1"),
        f"GET /probe?token={token}{'a' * 9000} HTTP/1.1\r\n\r\n".encode(),
    ):
        with socket.create_connection(("127.0.0.1", process.port), timeout=10) as conn:
            conn.sendall(request)
            assert conn.recv(100).startswith(b"HTTP/1.0 400")
    log = process.stop()
    assert token not in log
    assert "Traceback" not in log
    assert "malformed request from 127.0.0.1: InvalidURLError (HTTP 400)" in log
    assert "malformed request from 127.0.0.1: LineTooLong (HTTP 400)" in log
