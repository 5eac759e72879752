"""`mcp-exporter-healthcheck`: ask a running exporter whether it is healthy, the way its web
config says to talk to it.

The image's HEALTHCHECK and the Kubernetes exec probes run this inside the exporter's container.
An HTTP check that does not know the web config stops working once TLS or basic auth is turned
on; this command reads the exporter's own flags (the command line of `--pid`, PID 1 in a
container) for `--web.listen-address` and `--web.config.file`, unless given here, and then:

- TLS (`tls_server_config`): connects with TLS to the loopback address without verifying the
  certificate (it checks its own process, not a server's identity), presenting the server's own
  certificate as client certificate when the config requires one;
- basic auth (`basic_auth_users` holds only bcrypt hashes): sends the credentials of
  `--basic-auth.username` and the password file `--basic-auth.password-file` when given; without
  them, the exporter's own 401 challenge (realm "mcp-exporter") proves its HTTP stack answers.

Exit 0 when healthy, 1 otherwise with one line on stderr. Only the standard library and PyYAML
are imported, so a check every few seconds costs little.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import ssl
import sys
from pathlib import Path
from typing import Any

import yaml

DEFAULT_LISTEN = ":9675"
REALM = 'Basic realm="mcp-exporter"'


def _flag(argv: list[str], name: str) -> str | None:
    """The value of `--name=value` or `--name value` in an argument list (the last one wins)."""
    value = None
    for i, arg in enumerate(argv):
        if arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
        elif arg == name and i + 1 < len(argv):
            value = argv[i + 1]
    return value


def process_flags(pid: int) -> list[str]:
    """The command line of a process, [] if it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def loopback(address: str) -> tuple[str, int]:
    """Where to reach a listen address from inside its host: any-address means loopback."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"listen address {address!r} is not [host]:port")
    host = host.strip("[]")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return host, int(port)


def _tls_context(tls: dict[str, Any]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if tls.get("client_auth_type", "NoClientCert") in (
        "RequireAnyClientCert",
        "RequireAndVerifyClientCert",
        "RequestClientCert",
        "VerifyClientCertIfGiven",
    ):
        context.load_cert_chain(str(tls["cert_file"]), str(tls["key_file"]))
    return context


def check(
    address: str,
    web_config: Path | None,
    path: str,
    timeout: float,
    username: str | None = None,
    password: str | None = None,
) -> tuple[bool, str]:
    """Whether the exporter at `address` answers `path` healthily, and what was seen."""
    host, port = loopback(address)
    config: dict[str, Any] = {}
    if web_config is not None:
        loaded = yaml.safe_load(web_config.read_text(encoding="utf-8"))
        config = loaded if isinstance(loaded, dict) else {}
    tls = config.get("tls_server_config")
    connection: http.client.HTTPConnection
    if isinstance(tls, dict):
        connection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=_tls_context(tls)
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"User-Agent": "mcp-exporter-healthcheck", "Accept": "text/plain"}
    if username is not None and password is not None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read(4096)
    except (OSError, http.client.HTTPException) as exc:
        return False, f"{'https' if tls else 'http'}://{host}:{port}{path}: {exc}"
    finally:
        connection.close()
    status = response.status
    seen = f"{'https' if tls else 'http'}://{host}:{port}{path}: HTTP {status}"
    if status == 200:
        return True, seen
    protected = bool(config.get("basic_auth_users"))
    challenged = response.getheader("WWW-Authenticate") == REALM
    if status == 401 and protected and challenged and "Authorization" not in headers:
        return True, seen + " (the exporter's basic auth challenge: it is serving)"
    return False, seen


def main(argv: list[str] | None = None) -> int:
    """Check the exporter once; 0 when it serves, 1 (with the reason on stderr) when not."""
    parser = argparse.ArgumentParser(
        prog="mcp-exporter-healthcheck", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--web.listen-address", dest="listen")
    parser.add_argument("--web.config.file", dest="web_config", type=Path)
    parser.add_argument("--path", default="/-/healthy", help="/-/healthy or /-/ready")
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--pid", type=int, default=1, help="the exporter's process, for its flags")
    parser.add_argument("--basic-auth.username", dest="username")
    parser.add_argument("--basic-auth.password-file", dest="password_file", type=Path)
    args = parser.parse_args(argv)
    flags = process_flags(args.pid)
    listen = args.listen or _flag(flags, "--web.listen-address") or DEFAULT_LISTEN
    web_config = args.web_config
    if web_config is None and (found := _flag(flags, "--web.config.file")) is not None:
        web_config = Path(found)
    password = None
    if args.password_file is not None:
        password = args.password_file.read_text(encoding="utf-8").strip()
    try:
        ok, seen = check(listen, web_config, args.path, args.timeout, args.username, password)
    except (OSError, ValueError, yaml.YAMLError, ssl.SSLError) as exc:
        ok, seen = False, str(exc)
    if not ok:
        print(f"unhealthy: {seen}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
