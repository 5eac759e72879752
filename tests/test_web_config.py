"""--web.config.file: TLS and basic auth on the exporter's own endpoints."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import bcrypt
import pytest
import trustme

from exporter.config import ConfigError
from exporter.web_config import load_web_config
from tests.conftest import ExporterFactory, parse_metrics
from tests.exporter_process import ExporterProcess, StartExporter


def test_invalid_web_config(tmp_path: Path) -> None:
    """Unknown keys and non-bcrypt passwords are one-line errors."""
    path = tmp_path / "web.yml"
    path.write_text("basic_auth_users: {alice: plain}\nbogus: 1\n")
    with pytest.raises(ConfigError) as info:
        load_web_config(path)
    assert "bogus: unknown key" in info.value.problems
    path.write_text("basic_auth_users: {alice: plain, bob: '$2y$04$x'}\n")
    with pytest.raises(ConfigError) as info:
        load_web_config(path)
    assert info.value.problems == [
        "basic_auth_users.alice: not a bcrypt hash",
        "basic_auth_users.bob: not a bcrypt hash",
    ]


@pytest.mark.parametrize(
    "hashed",
    [
        "$2y$04$x",  # bcrypt's prefix, then nothing it can check against
        "$2b$04$" + "a" * 53,  # the right length, but a salt bcrypt does not decode
        "$2b$99$" + "a" * 53,  # no such cost
        bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()[:-1],
    ],
)
def test_hashes_bcrypt_cannot_check_are_refused(tmp_path: Path, hashed: str) -> None:
    """Each answered every request of its user with a 500 (bcrypt: Invalid salt)."""
    path = tmp_path / "web.yml"
    path.write_text(f"basic_auth_users: {{bob: '{hashed}'}}\n")
    with pytest.raises(ConfigError) as info:
        load_web_config(path)
    assert info.value.problems == ["basic_auth_users.bob: not a bcrypt hash"]


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        (
            '{"X-A": "a\\nb"}',
            "http_server_config.headers.X-A: the value contains control characters",
        ),
        ('{"X A": b}', "http_server_config.headers.X A: not a valid header name"),
        ('{"": b}', "http_server_config.headers.: not a valid header name"),
    ],
)
def test_headers_that_cannot_be_sent_are_refused(
    tmp_path: Path, headers: str, problem: str
) -> None:
    """Such a header broke every response (aiohttp refuses to send it) instead of the load."""
    path = tmp_path / "web.yml"
    path.write_text(f"http_server_config: {{headers: {headers}}}\n")
    with pytest.raises(ConfigError) as info:
        load_web_config(path)
    assert info.value.problems == [problem]


def test_a_web_config_that_is_not_utf8(tmp_path: Path) -> None:
    """A binary file is one line, not a traceback."""
    path = tmp_path / "web.yml"
    path.write_bytes(b"basic_auth_users: {}\n\x89PNG")
    with pytest.raises(ConfigError) as info:
        load_web_config(path)
    assert str(info.value) == f"{path}: not UTF-8 text (byte 21)"


async def test_a_password_longer_than_bcrypt_takes_is_refused(
    tmp_path: Path, make_exporter: ExporterFactory
) -> None:
    """bcrypt refuses passwords over 72 bytes with an error, which was a 500 for anyone."""
    path = tmp_path / "web.yml"
    path.write_text(_users_yaml(alice="alice-pass"))
    exporter = await make_exporter(web_config=load_web_config(path), web_config_file=path)
    for password in ("x" * 73, "alice-pass" + "x" * 100, "alice-pass"):
        async with exporter.client.get(
            f"{exporter.base}/-/healthy", headers=_basic("alice", password)
        ) as resp:
            assert resp.status == (200 if password == "alice-pass" else 401)


def test_tls_and_basic_auth(tmp_path: Path, start_exporter: StartExporter) -> None:
    """Served over TLS; requests without the right credentials get 401."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    hashed = bcrypt.hashpw(b"s3cret-pass", bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {tmp_path / 'server.pem'}\n"
        f"  key_file: {tmp_path / 'server.pem'}\n"
        f"basic_auth_users:\n  alice: '{hashed}'\n"
        "http_server_config:\n  headers: {X-Frame-Options: deny}\n"
    )
    context = ssl.create_default_context(cafile=str(ca_file))
    process = start_exporter("--web.config.file", str(web), tls=context)
    assert process.get("/metrics")[0] == 401
    assert process.get("/metrics", headers=_basic("alice", "wrong"))[0] == 401
    good = urllib.request.Request(f"{process.base}/metrics", headers=_basic("alice", "s3cret-pass"))
    with urllib.request.urlopen(good, context=context, timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["X-Frame-Options"] == "deny"
        assert b"mcp_exporter_build_info" in resp.read()
    # Plain HTTP to the TLS port gets no answer.
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{process.port}/metrics", timeout=5)


def _tls_files(tmp_path: Path, name: str) -> tuple[trustme.CA, Path, Path]:
    """A CA, a server certificate for 127.0.0.1 it signed (cert and key in one file), and the
    CA's certificate for clients."""
    ca = trustme.CA()
    server = tmp_path / f"{name}-server.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(server))
    ca_file = tmp_path / f"{name}-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return ca, server, ca_file


def _tls_yaml(server: Path, auth: str | None = None, ca: Path | None = None) -> str:
    text = f"tls_server_config:\n  cert_file: {server}\n  key_file: {server}\n"
    if auth is not None:
        text += f"  client_auth_type: {auth}\n"
    if ca is not None:
        text += f"  client_ca_file: {ca}\n"
    return text


NEEDS_CA = (
    "needs client_ca_file (Python's TLS cannot accept a client certificate without verifying it)"
)


@pytest.mark.parametrize(
    ("auth", "with_ca", "problem"),
    [
        ("RequireAnyClientCert", False, f"client_auth_type: RequireAnyClientCert {NEEDS_CA}"),
        ("RequireClientCert", False, f"client_auth_type: RequireClientCert {NEEDS_CA}"),
        (
            "VerifyClientCertIfGiven",
            False,
            "client_auth_type: VerifyClientCertIfGiven needs client_ca_file "
            "(client certificates are verified against it)",
        ),
        (
            "RequireAndVerifyClientCert",
            False,
            "client_auth_type: RequireAndVerifyClientCert needs client_ca_file "
            "(client certificates are verified against it)",
        ),
        (
            "NoClientCert",
            True,
            "client_ca_file: set, but client_auth_type NoClientCert never checks client "
            "certificates",
        ),
        (
            "''",
            True,
            "client_ca_file: set, but client_auth_type NoClientCert never checks client "
            "certificates",
        ),
        (
            None,
            True,
            "client_ca_file: set, but client_auth_type NoClientCert never checks "
            "client certificates",
        ),
    ],
)
def test_client_auth_type_without_the_ca_it_needs_is_refused(
    tmp_path: Path, auth: str | None, with_ca: bool, problem: str
) -> None:
    """A client_auth_type that needs client_ca_file without one (or a CA no mode uses) is one
    line naming the file and the key, never a listener that silently checks nothing."""
    _, server, ca_file = _tls_files(tmp_path, "a")
    path = tmp_path / "web.yml"
    path.write_text(_tls_yaml(server, auth, ca_file if with_ca else None))
    with pytest.raises(ConfigError) as info:
        load_web_config(path)
    assert info.value.problems == [f"tls_server_config.{problem}"]
    assert str(info.value) == f"{path}: tls_server_config.{problem}"


@pytest.mark.parametrize(
    "auth",
    [
        "",
        "NoClientCert",
        "RequestClientCert",
        "RequireAnyClientCert",
        "RequireClientCert",
        "VerifyClientCertIfGiven",
        "RequireAndVerifyClientCert",
    ],
)
def test_client_auth_types_exporter_toolkit_accepts(tmp_path: Path, auth: str) -> None:
    """Every client_auth_type name exporter-toolkit knows loads, given the CA it needs."""
    _, server, ca_file = _tls_files(tmp_path, "a")
    path = tmp_path / "web.yml"
    needs_ca = auth not in ("", "NoClientCert")
    path.write_text(_tls_yaml(server, repr(auth), ca_file if needs_ca else None))
    assert load_web_config(path).tls_context is not None


def test_unknown_client_auth_type_and_unreadable_files(tmp_path: Path) -> None:
    """An unknown mode, a missing file and a file that is no certificate each name their key."""
    _, server, ca_file = _tls_files(tmp_path, "a")
    path = tmp_path / "web.yml"
    path.write_text(_tls_yaml(server, "RequireSomething", ca_file))
    with pytest.raises(ConfigError) as info:
        load_web_config(path)
    assert info.value.problems[0].startswith("tls_server_config.client_auth_type: Input should be")
    missing = tmp_path / "missing.pem"
    path.write_text(_tls_yaml(server, "RequireAndVerifyClientCert", missing))
    with pytest.raises(ConfigError) as info:
        load_web_config(path)
    assert info.value.problems == [
        f"tls_server_config.client_ca_file: cannot read {missing}: no such file"
    ]
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    path.write_text(_tls_yaml(server, "RequireAndVerifyClientCert", garbage))
    with pytest.raises(ConfigError) as info:
        load_web_config(path)
    assert info.value.problems[0].startswith(
        f"tls_server_config.client_ca_file: cannot load {garbage}"
    )
    path.write_text(_tls_yaml(garbage))
    with pytest.raises(ConfigError) as info:
        load_web_config(path)
    assert info.value.problems[0].startswith("tls_server_config.cert_file, key_file: cannot load")


def test_empty_file_names(tmp_path: Path) -> None:
    """An empty cert_file is an error (not the working directory); an empty client_ca_file is
    not set, as exporter-toolkit reads it."""
    _, server, _ = _tls_files(tmp_path, "a")
    path = tmp_path / "web.yml"
    path.write_text(f"tls_server_config: {{cert_file: '', key_file: {server}}}\n")
    with pytest.raises(ConfigError) as info:
        load_web_config(path)
    assert info.value.problems == ["tls_server_config.cert_file: must name a file"]
    path.write_text(_tls_yaml(server, "RequireAndVerifyClientCert") + "  client_ca_file: ''\n")
    with pytest.raises(ConfigError) as info:
        load_web_config(path)
    assert info.value.problems[0].startswith(
        "tls_server_config.client_auth_type: RequireAndVerifyClientCert needs client_ca_file"
    )
    path.write_text(_tls_yaml(server, "NoClientCert") + "  client_ca_file: ''\n")
    assert load_web_config(path).tls_context is not None


def test_relative_files_are_taken_from_the_web_config_directory(tmp_path: Path) -> None:
    """As in exporter-toolkit, relative file names are relative to the web config file."""
    _, server, ca_file = _tls_files(tmp_path, "a")
    path = tmp_path / "web.yml"
    path.write_text(
        "tls_server_config:\n  cert_file: a-server.pem\n  key_file: ./a-server.pem\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: a-ca.pem\n"
    )
    tls = load_web_config(path).tls_server_config
    assert tls is not None
    assert (tls.cert_file, tls.client_ca_file) == (server, ca_file)


def test_refused_web_config_stops_start_and_check(
    tmp_path: Path, start_exporter: StartExporter
) -> None:
    """RequireAnyClientCert without a CA: the exporter does not start (exit 1, one log line
    naming the file and the key) and --config.check says the same on stderr."""
    _, server, _ = _tls_files(tmp_path, "a")
    web = tmp_path / "web.yml"
    web.write_text(_tls_yaml(server, "RequireAnyClientCert"))
    process = start_exporter("--web.config.file", str(web), wait=False)
    assert process.proc.wait(timeout=30) == 1
    errors = [line for line in process.log().splitlines() if "level=error" in line]
    assert len(errors) == 1
    assert f"source={web}" in errors[0]
    assert f"tls_server_config.client_auth_type: RequireAnyClientCert {NEEDS_CA}" in errors[0]
    check = subprocess.run(
        [sys.executable, "-m", "exporter", "--web.config.file", str(web), "--config.check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 1
    assert check.stderr.strip() == (
        f"{web}: tls_server_config.client_auth_type: RequireAnyClientCert {NEEDS_CA}"
    )
    web.write_text(_tls_yaml(server))
    check = subprocess.run(
        [sys.executable, "-m", "exporter", "--web.config.file", str(web), "--config.check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert f"{web}: OK" in check.stdout


def _reload(process: ExporterProcess, outcome: str = "config loaded") -> str:
    """SIGHUP, then the log once one more `outcome` line is in it."""
    before = process.log().count(outcome)
    process.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while (log := process.log()).count(outcome) == before:
        assert time.monotonic() < deadline, log
        time.sleep(0.05)
    return log


def _client(ca_file: Path, cert: trustme.LeafCert | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file))
    if cert is not None:
        cert.configure_cert(context)
    return context


def _admitted(process: ExporterProcess, context: ssl.SSLContext) -> bool:
    try:
        return process.get("/-/healthy", tls=context, timeout=5)[0] == 200
    except OSError:  # handshake refused, or the connection reset after it (TLS 1.3)
        return False


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_client_auth_types_over_tls(
    tmp_path: Path, start_exporter: StartExporter, loop: str
) -> None:
    """Each client_auth_type admits the clients exporter-toolkit admits (RequireAnyClientCert
    also verifies, which Python cannot avoid); each reload of the web config applies to the
    next connection."""
    _, server, server_ca = _tls_files(tmp_path, "server")
    clients_ca = trustme.CA()
    clients_ca_file = tmp_path / "clients-ca.pem"
    clients_ca.cert_pem.write_to_path(str(clients_ca_file))
    trusted = _client(server_ca, clients_ca.issue_cert("client.example"))
    untrusted = _client(server_ca, trustme.CA().issue_cert("client.example"))
    anonymous = _client(server_ca)
    web = tmp_path / "web.yml"
    web.write_text(_tls_yaml(server))
    process = start_exporter("--web.config.file", str(web), "--event-loop", loop, tls=anonymous)
    expected = {
        "NoClientCert": (True, True, True),
        "RequestClientCert": (True, True, True),
        "RequireAnyClientCert": (False, True, False),
        "VerifyClientCertIfGiven": (True, True, False),
        "RequireAndVerifyClientCert": (False, True, False),
    }
    for auth, admitted in expected.items():
        ca = None if auth == "NoClientCert" else clients_ca_file
        web.write_text(_tls_yaml(server, auth, ca))
        _reload(process)
        seen = tuple(_admitted(process, c) for c in (anonymous, trusted, untrusted))
        assert seen == admitted, auth


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + b64encode(f"{user}:{password}".encode()).decode()}


def _users_yaml(**users: str) -> str:
    hashed = {
        user: bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        for user, password in users.items()
    }
    return "basic_auth_users:\n" + "".join(f"  {u}: '{h}'\n" for u, h in hashed.items())


def test_reload_rereads_the_web_config(tmp_path: Path, start_exporter: StartExporter) -> None:
    """POST /-/reload and SIGHUP re-read the web config: a new certificate, new users and new
    headers apply to the next request without a restart; an invalid file keeps the old one and
    is reported like an invalid config (500, log line, metric 0)."""
    _, first, first_ca = _tls_files(tmp_path, "first")
    _, second, second_ca = _tls_files(tmp_path, "second")
    web = tmp_path / "web.yml"
    web.write_text(
        _tls_yaml(first) + _users_yaml(alice="alice-pass") + "http_server_config:\n"
        "  headers: {X-Frame-Options: deny}\n"
    )
    process = start_exporter("--web.config.file", str(web), tls=_client(first_ca))
    alice, bob = _basic("alice", "alice-pass"), _basic("bob", "bob-pass")
    assert process.get("/metrics", headers=alice)[0] == 200
    assert process.get("/metrics", headers=bob)[0] == 401

    web.write_text(_tls_yaml(second) + _users_yaml(bob="bob-pass"))
    assert process.request("/-/reload", method="POST", headers=alice) == (200, "config reloaded\n")
    process.tls = _client(second_ca)
    assert process.get("/metrics", headers=bob)[0] == 200
    # alice's credentials were verified (and remembered) before: the reload forgets them.
    assert process.get("/metrics", headers=alice)[0] == 401
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        process.get("/metrics", headers=bob, tls=_client(first_ca))
    with urllib.request.urlopen(
        urllib.request.Request(f"{process.base}/-/healthy", headers=bob),
        context=process.tls,
        timeout=10,
    ) as resp:
        assert resp.headers.get("X-Frame-Options") is None  # headers follow the file too

    web.write_text(_tls_yaml(first, "RequireAnyClientCert") + _users_yaml(carol="carol-pass"))
    status, body = process.request("/-/reload", method="POST", headers=bob)
    assert status == 500
    problem = f"tls_server_config.client_auth_type: RequireAnyClientCert {NEEDS_CA}"
    assert f"{web}: {problem}" in body
    assert process.get("/metrics", headers=_basic("carol", "carol-pass"))[0] == 401
    status, metrics = process.get("/metrics", headers=bob)
    assert parse_metrics(metrics)["mcp_exporter_config_last_reload_successful"] == 0
    log = process.log()
    assert "config reload failed; keeping the previous config" in log
    assert f"source={web}" in log

    # Switching TLS off cannot be done by a reload: refused, TLS stays on.
    web.write_text(_users_yaml(bob="bob-pass"))
    log = _reload(process, "config reload failed")
    assert "tls_server_config: removed by a reload; restart the exporter to change it" in log
    web.write_text(_tls_yaml(first) + _users_yaml(dave="dave-pass"))
    _reload(process)
    process.tls = _client(first_ca)
    assert process.get("/metrics", headers=_basic("dave", "dave-pass"))[0] == 200
    status, metrics = process.get("/metrics", headers=_basic("dave", "dave-pass"))
    assert parse_metrics(metrics)["mcp_exporter_config_last_reload_successful"] == 1

    # Certificates renewed in place (same file names, the web config unchanged) are read by the
    # next reload too.
    renewed_ca = trustme.CA()
    renewed_ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(first))
    renewed_ca_file = tmp_path / "renewed-ca.pem"
    renewed_ca.cert_pem.write_to_path(str(renewed_ca_file))
    _reload(process)
    process.tls = _client(renewed_ca_file)
    assert process.get("/metrics", headers=_basic("dave", "dave-pass"))[0] == 200


def test_reload_adds_basic_auth_to_a_plain_listener(
    tmp_path: Path, start_exporter: StartExporter
) -> None:
    """A web config without users at start can gain them on reload (and not TLS)."""
    web = tmp_path / "web.yml"
    web.write_text("http_server_config: {headers: {X-Content-Type-Options: nosniff}}\n")
    process = start_exporter("--web.config.file", str(web))
    assert process.get("/metrics")[0] == 200
    web.write_text(_users_yaml(alice="alice-pass"))
    _reload(process)
    assert process.get("/metrics")[0] == 401
    assert process.get("/metrics", headers=_basic("alice", "alice-pass"))[0] == 200
    _, server, _ = _tls_files(tmp_path, "late")
    web.write_text(_tls_yaml(server))
    assert "tls_server_config: added by a reload" in _reload(process, "config reload failed")
    assert process.get("/metrics", headers=_basic("alice", "alice-pass"))[0] == 200


def test_invalid_web_config_keeps_the_config_too(
    tmp_path: Path, start_exporter: StartExporter
) -> None:
    """A reload is all or nothing: with the web config invalid, the new config is not taken
    either, and the next reload with both valid takes both."""
    config = tmp_path / "config.yml"
    config.write_text("modules: {first: {prober: mcp}}\n")
    web = tmp_path / "web.yml"
    web.write_text("http_server_config: {headers: {X-Test: one}}\n")
    process = start_exporter("--config.file", str(config), "--web.config.file", str(web))
    config.write_text("modules: {second: {prober: mcp}}\n")
    web.write_text("basic_auth_users: {alice: plain}\n")
    status, body = process.request("/-/reload", method="POST")
    assert status == 500
    assert f"{web}: basic_auth_users.alice: not a bcrypt hash" in body
    assert "first:" in process.get("/config")[1]
    web.write_text("http_server_config: {headers: {X-Test: two}}\n")
    assert process.request("/-/reload", method="POST")[0] == 200
    assert "second:" in process.get("/config")[1]
