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
