"""--web.config.file: TLS and basic auth on the exporter's own endpoints."""

from __future__ import annotations

import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import bcrypt
import pytest
import trustme

from exporter.config import ConfigError
from exporter.web_config import load_web_config
from tests.exporter_process import StartExporter
from tests.peers.mcp_servers import free_port, wait_for_port


def test_invalid_web_config(tmp_path: Path) -> None:
    """Unknown keys and non-bcrypt passwords are one-line errors."""
    path = tmp_path / "web.yml"
    path.write_text("basic_auth_users: {alice: plain}\nbogus: 1\n")
    with pytest.raises(ConfigError) as info:
        load_web_config(path)
    assert "bogus: unknown key" in info.value.problems


def test_tls_and_basic_auth(tmp_path: Path) -> None:
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
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "--web.listen-address",
            f"127.0.0.1:{port}",
            "--web.config.file",
            str(web),
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        context = ssl.create_default_context(cafile=str(ca_file))
        url = f"https://127.0.0.1:{port}/metrics"
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url, context=context, timeout=10)
        assert info.value.code == 401
        bad = urllib.request.Request(
            url, headers={"Authorization": "Basic " + b64encode(b"alice:wrong").decode()}
        )
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(bad, context=context, timeout=10)
        good = urllib.request.Request(
            url, headers={"Authorization": "Basic " + b64encode(b"alice:s3cret-pass").decode()}
        )
        with urllib.request.urlopen(good, context=context, timeout=10) as resp:
            assert resp.status == 200
            assert resp.headers["X-Frame-Options"] == "deny"
            assert b"mcp_exporter_build_info" in resp.read()
        # Plain HTTP to the TLS port gets no answer.
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


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
