"""The client the MCP conformance suite runs for each client scenario: one `mcp-exporter probe`.

The suite (``@modelcontextprotocol/conformance client --command "python client.py"``) starts a
scenario's servers on ``localhost``, then runs this command with the MCP server's URL as the last
argument, the scenario's name in ``MCP_CONFORMANCE_SCENARIO`` and, for scenarios that need
credentials, a JSON object in ``MCP_CONFORMANCE_CONTEXT``. This script writes a config with one
module for the scenario (secrets as files, as an operator would mount them) and runs the exporter's
one-shot probe with it: what the suite then checks is exactly what a probe sends.

Which module a scenario gets is in :func:`module_for`; scenarios the probe cannot complete are
listed with their reason in ``baseline.yml`` beside this file.

Run by hand: ``MCP_CONFORMANCE_SCENARIO=initialize python client.py http://localhost:PORT/mcp``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

# Every server the suite starts is http://localhost:<port>: plain http to loopback is allowed.
LOOPBACK: dict[str, Any] = {"url_policy": {"allow_http_loopback": True}}
# The 2025-03-26 revision has no protected-resource metadata; the server's origin is the
# authorization server (with metadata at its root, or the default endpoints without it).
LEGACY_SCENARIOS = frozenset(
    {"auth/2025-03-26-oauth-metadata-backcompat", "auth/2025-03-26-oauth-endpoint-fallback"}
)


def tool_call(name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    """An mcp module that initializes, lists tools and calls one tool."""
    call = {"name": name, "arguments": arguments or {}}
    return {"prober": "mcp", "mcp": {"steps": ["tools_list", "tool_call"], "tool_call": call}}


def module_for(scenario: str, context: dict[str, Any], secrets: Path) -> dict[str, Any]:
    """The module that makes one probe play the scenario's client."""
    if scenario == "tools_call":
        return tool_call("add_numbers", {"a": 2, "b": 3})
    if scenario == "sse-retry":
        # The tool's answer stream is closed mid-call with a retry field: the probe must resume.
        return tool_call("test_reconnection")
    if scenario == "elicitation-sep1034-client-defaults":
        return tool_call("test_client_elicitation_defaults")
    if scenario == "auth/client-credentials-basic":
        secret = secrets / "client_secret"
        secret.write_text(str(context["client_secret"]))
        oauth2 = {
            "client_id": context["client_id"],
            "client_secret": {"file": str(secret)},
            "auth_method": "client_secret_basic",
        }
        return {"prober": "mcp", "mcp": {"oauth2": oauth2}, "discovery": LOOPBACK}
    if scenario == "auth/client-credentials-jwt":
        key = secrets / "private_key.pem"
        key.write_text(str(context["private_key_pem"]))
        oauth2 = {
            "client_id": context["client_id"],
            "auth_method": "private_key_jwt",
            "private_key": {"file": str(key)},
            "signing_algorithm": context.get("signing_algorithm", "ES256"),
            # The suite's authorization server accepts its issuer as the assertion's audience.
            "assertion_audience": "issuer",
        }
        return {"prober": "mcp", "mcp": {"oauth2": oauth2}, "discovery": LOOPBACK}
    if scenario.startswith("auth/"):
        # Flows that need a user's login: the probe does what it can without one. Its MCP
        # request is refused, and the discovery that follows starts from the challenge of that
        # refusal (some scenarios let initialize through and refuse only tools/list).
        discovery = dict(LOOPBACK, default_endpoints_fallback=scenario in LEGACY_SCENARIOS)
        return {"prober": "mcp", "mcp": {"discovery_on_auth_failure": True}, "discovery": discovery}
    return {"prober": "mcp"}


def main(argv: list[str]) -> int:
    """Probe argv[-1] as the scenario's client; the exit code is the probe's."""
    if len(argv) < 2:
        print("usage: client.py [probe options...] SERVER_URL", file=sys.stderr)
        return 2
    url, extra = argv[-1], argv[1:-1]
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    with tempfile.TemporaryDirectory(prefix="conformance-") as tmp:
        secrets = Path(tmp)
        module = module_for(scenario, context, secrets)
        config = secrets / "config.yml"
        # JSON is YAML; the module is named after nothing in particular so reports stay short.
        config.write_text(json.dumps({"modules": {"conformance": module}}))
        command = [sys.executable, "-m", "exporter", "probe", url]
        command += ["--config.file", str(config), "--module", "conformance", *extra]
        print(f"scenario {scenario or '(none)'}: {json.dumps(module)}", file=sys.stderr)
        return subprocess.run(command, check=False, stdin=subprocess.DEVNULL).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
