"""mcp-exporter-healthcheck against a real exporter process: plain HTTP, TLS, basic auth and
required client certificates, with the flags read from the exporter's command line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bcrypt
import pytest
import trustme

from exporter.healthcheck import loopback
from tests.peers.mcp_servers import free_port, wait_for_port


@contextmanager
def exporter(*flags: str) -> Iterator[subprocess.Popen[bytes]]:
    """The exporter as its own process, with these flags."""
    proc = subprocess.Popen([sys.executable, "-m", "exporter", *flags], stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def healthcheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter.healthcheck", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def certs(tmp_path: Path) -> dict[str, Path]:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    return {"server": tmp_path / "server.pem", "ca": tmp_path / "ca.pem"}


def test_plain_http_from_the_processs_own_flags() -> None:
    """Without flags of its own, the check uses the exporter's --web.listen-address (read from
    its command line) and passes; once the exporter is gone it fails, saying what it tried."""
    port = free_port()
    with exporter(f"--web.listen-address=127.0.0.1:{port}") as proc:
        wait_for_port(port, proc)
        for path in ("/-/healthy", "/-/ready"):
            result = healthcheck(f"--pid={proc.pid}", f"--path={path}")
            assert result.returncode == 0, result.stderr
        pid = proc.pid
    result = healthcheck(f"--web.listen-address=127.0.0.1:{port}", f"--pid={pid}")
    assert result.returncode == 1
    assert result.stderr.startswith(f"unhealthy: http://127.0.0.1:{port}/-/healthy: ")


def test_tls_and_basic_auth_from_the_web_config(tmp_path: Path, certs: dict[str, Path]) -> None:
    """With TLS and basic auth on, the check reads the web config named on the exporter's command
    line: it speaks TLS, and the exporter's own basic-auth challenge shows it serving; given
    credentials, they must be right."""
    hashed = bcrypt.hashpw(b"s3cret-pass", bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {certs['server']}\n  key_file: {certs['server']}\n"
        f"basic_auth_users:\n  alice: '{hashed}'\n"
    )
    port = free_port()
    with exporter("--web.listen-address", f"127.0.0.1:{port}", "--web.config.file", str(web)) as p:
        wait_for_port(port, p)
        result = healthcheck(f"--pid={p.pid}")
        assert result.returncode == 0, result.stderr
        password = tmp_path / "password"
        password.write_text("s3cret-pass\n")
        good = healthcheck(
            f"--pid={p.pid}",
            "--basic-auth.username=alice",
            f"--basic-auth.password-file={password}",
        )
        assert good.returncode == 0, good.stderr
        password.write_text("wrong\n")
        bad = healthcheck(
            f"--pid={p.pid}",
            "--basic-auth.username=alice",
            f"--basic-auth.password-file={password}",
        )
        assert bad.returncode == 1
        assert "HTTP 401" in bad.stderr
        # A check that ignored the web config would speak plain HTTP to the TLS port.
        plain = healthcheck(f"--web.listen-address=127.0.0.1:{port}", "--pid=0")
        assert plain.returncode == 1


def test_required_client_certificate(tmp_path: Path, certs: dict[str, Path]) -> None:
    """With client certificates required, the check presents the server's own certificate (issued
    by the client CA here) and passes."""
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {certs['server']}\n  key_file: {certs['server']}\n"
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {certs['ca']}\n"
    )
    port = free_port()
    with exporter(f"--web.listen-address=127.0.0.1:{port}", f"--web.config.file={web}") as p:
        wait_for_port(port, p)
        result = healthcheck(f"--pid={p.pid}", "--path=/-/ready")
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (":9675", ("127.0.0.1", 9675)),
        ("0.0.0.0:9675", ("127.0.0.1", 9675)),
        ("[::]:9675", ("::1", 9675)),
        ("[::1]:80", ("::1", 80)),
        ("10.1.2.3:9675", ("10.1.2.3", 9675)),
    ],
)
def test_listen_addresses_map_to_where_the_container_reaches_them(
    address: str, expected: tuple[str, int]
) -> None:
    """An any-address listener is checked on loopback; a specific address as it is."""
    assert loopback(address) == expected
