"""The sharding recipe (deploy/sharding/prometheus.yml) end to end: Debian's Prometheus on 127.0.0.1
with three exporter processes and the demo MCP server. Every target is probed by exactly one
replica, the one `hashmod` assigns; the split is within the stated tolerance of even; stopping one
replica makes exactly its share go `up == 0`, and the shipped rules alert on that share and that
replica."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "deploy" / "sharding" / "prometheus.yml"
RULES = ROOT / "grafana" / "rules" / "mcp-exporter.rules.yml"
PROMETHEUS = "/usr/bin/prometheus"

REPLICAS = 3
TARGETS = 300
INTERVAL_S = 6  # the recipe says 30s; shortened so the test stays well under 90 s
SHARD_RULE = re.compile(r"^mcp-exporter-(\d+):9675$")

T = TypeVar("T")


def hashmod(value: str, modulus: int) -> int:
    """Prometheus' `hashmod` relabel action: the low 64 bits of the MD5 of the value."""
    digest = hashlib.md5(value.encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[8:], "big") % modulus


def tolerance(targets: int, replicas: int, sigmas: float = 3) -> float:
    """Allowed distance of one replica's share from targets/replicas: three standard deviations of
    a uniform hash's split (binomial), as deploy/sharding/README.md states."""
    p = 1 / replicas
    return sigmas * math.sqrt(targets * p * (1 - p))


def _recipe() -> dict[str, Any]:
    return dict(yaml.safe_load(RECIPE.read_text(encoding="utf-8")))


def _jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in config["scrape_configs"]}


# --- The recipe as shipped -----------------------------------------------------------------------


def test_recipe_assigns_each_shard_to_exactly_one_replica() -> None:
    jobs = _jobs(_recipe())
    probe, exporter = jobs["mcp_probe"], jobs["mcp_exporter"]
    rules = probe["relabel_configs"]
    (hashing,) = [r for r in rules if r.get("action") == "hashmod"]
    assert hashing["source_labels"] == ["__param_target"]
    shard_rules = [r for r in rules if r.get("source_labels") == [hashing["target_label"]]]
    assert [r["regex"] for r in shard_rules] == [str(i) for i in range(hashing["modulus"])]
    assert all(r["target_label"] == "__address__" for r in shard_rules)
    addresses = [r["replacement"] for r in shard_rules]
    assert len(set(addresses)) == hashing["modulus"] == REPLICAS
    # The same replicas are scraped for their own metrics (MCPExporterDown).
    (static,) = exporter["static_configs"]
    assert static["targets"] == addresses
    # The shard is computed after __param_target is set and the address is set last.
    names = [r.get("target_label") for r in rules]
    assert names.index("__param_target") < names.index(hashing["target_label"])
    # No label names the replica: a target's series survive a change of N.
    visible = {r["target_label"] for r in rules if not r["target_label"].startswith("__")}
    assert visible == {"instance", "module"}


def test_recipe_passes_promtool(tmp_path: Path) -> None:
    (tmp_path / "prometheus.yml").write_text(RECIPE.read_text(encoding="utf-8"))
    (tmp_path / "mcp-exporter.rules.yml").write_text(RULES.read_text(encoding="utf-8"))
    targets = RECIPE.parent / "targets"
    (tmp_path / "targets").mkdir()
    for path in targets.glob("*.yml"):
        (tmp_path / "targets" / path.name).write_text(path.read_text(encoding="utf-8"))
    out = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "WARNING" not in out.stdout + out.stderr


@pytest.mark.parametrize(("targets", "replicas"), [(3000, 3), (10000, 10)])
def test_hash_split_is_within_the_stated_tolerance(targets: int, replicas: int) -> None:
    urls = [f"https://mcp-{i}.team-{i % 7}.example.com/mcp" for i in range(targets)]
    shares = Counter(hashmod(u, replicas) for u in urls)
    assert set(shares) == set(range(replicas))
    for share in shares.values():
        assert abs(share - targets / replicas) <= tolerance(targets, replicas), shares


# --- End to end ----------------------------------------------------------------------------------


def serve(port: int) -> None:
    """The demo MCP server at /mcp and at every /t/<n>/mcp, so that one server stands for many
    targets (the exporter shows a target without its query string, so the path tells them apart)."""
    import uvicorn

    from exporter.demo import build_server

    app = build_server().streamable_http_app(host="127.0.0.1")

    async def many(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and re.fullmatch(r"/t/\d+/mcp", scope["path"]):
            scope = {**scope, "path": "/mcp", "raw_path": b"/mcp"}
        await app(scope, receive, send)

    uvicorn.run(many, host="127.0.0.1", port=port, log_level="warning")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return str(resp.read().decode())


def _wait_for(what: str, check: Callable[[], T | None], deadline: float) -> T:
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except (OSError, ValueError, KeyError) as exc:
            last, value = exc, None
        if value is not None:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


def _connects(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _api(prom: str, path: str, **params: str) -> Any:
    body = json.loads(_get(f"{prom}/api/v1/{path}?{urllib.parse.urlencode(params)}"))
    assert body["status"] == "success", body
    return body["data"]


def _probed_targets(exporter: str) -> set[str]:
    """Targets in the replica's list of recent probes (its landing page)."""
    return set(re.findall(r"<td>(http://127\.0\.0\.1:\d+/t/\d+/mcp)</td>", _get(exporter)))


@contextlib.contextmanager
def _processes() -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        yield procs
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _config_for_test(
    addresses: dict[str, str], targets_dir: Path, rules: Path, scrape_timeout: str
) -> dict[str, Any]:
    """The recipe with only what a test on 127.0.0.1 must change: the replicas' addresses, the
    target and rule files' paths, and a short interval."""
    text = RECIPE.read_text(encoding="utf-8")
    for name, address in addresses.items():
        text = text.replace(name, address)
    config = dict(yaml.safe_load(text))
    config["global"] = {
        "scrape_interval": f"{INTERVAL_S}s",
        "scrape_timeout": scrape_timeout,
        "evaluation_interval": "1s",
    }
    config["rule_files"] = [str(rules)]
    probe = _jobs(config)["mcp_probe"]
    probe["scrape_timeout"] = scrape_timeout
    probe["file_sd_configs"] = [{"files": [str(targets_dir / "*.yml")]}]
    return config


@pytest.mark.timeout(90)
def test_sharding_end_to_end(tmp_path: Path) -> None:
    started = time.monotonic()
    recipe_addresses = _jobs(_recipe())["mcp_exporter"]["static_configs"][0]["targets"]
    assert [int(SHARD_RULE.match(a).group(1)) for a in recipe_addresses] == list(range(REPLICAS))  # type: ignore[union-attr]
    ports = [_free_port() for _ in range(REPLICAS)]
    addresses = {
        name: f"127.0.0.1:{port}" for name, port in zip(recipe_addresses, ports, strict=True)
    }
    exporters = [f"http://127.0.0.1:{port}" for port in ports]
    demo_port, prom_port = _free_port(), _free_port()
    prom = f"http://127.0.0.1:{prom_port}"

    # One demo MCP server behind 300 distinct target URLs.
    urls = [f"http://127.0.0.1:{demo_port}/t/{i}/mcp" for i in range(TARGETS)]
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets" / "demo.yml").write_text(
        yaml.safe_dump([{"targets": urls, "labels": {"team": "e2e"}}])
    )
    # The shipped rules, with every `for` dropped so that they fire within the test.
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("for", None)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    config = _config_for_test(addresses, tmp_path / "targets", tmp_path / "rules.yml", "5s")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    expected = {u: exporters[hashmod(u, REPLICAS)] for u in urls}
    shares = Counter(expected.values())
    # The URLs contain a new port each run, so the split varies between runs: 4 standard deviations
    # (a fair hash exceeds it in about 2 runs in 10,000) rather than the stated 3 (3 in 1,000).
    for share in shares.values():
        assert abs(share - TARGETS / REPLICAS) <= tolerance(TARGETS, REPLICAS, 4), shares

    exe = [sys.executable, "-m", "exporter"]
    log: Callable[[str], BinaryIO] = lambda name: (tmp_path / f"{name}.log").open("wb")  # noqa: E731
    with _processes() as procs:
        procs["demo"] = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"from tests.test_sharding_e2e import serve; serve({demo_port})",
            ],
            cwd=ROOT,
            stdout=log("demo"),
            stderr=subprocess.STDOUT,
        )
        for i, port in enumerate(ports):
            procs[f"exporter-{i}"] = subprocess.Popen(
                [
                    *exe,
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--history.limit=5000",
                    "--log.level=warning",
                ],
                stdout=log(f"exporter-{i}"),
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 15
        for url in exporters:
            _wait_for(f"{url} ready", lambda: _get(f"{url}/-/ready") or None, deadline)  # noqa: B023 - waited for here
        _wait_for("the demo server", lambda: _connects(demo_port) or None, deadline)
        # The targets answer before Prometheus starts, so every probe can succeed.
        procs["prometheus"] = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--log.level=warn",
            ],
            stdout=log("prometheus"),
            stderr=subprocess.STDOUT,
        )
        _wait_for("Prometheus", lambda: _get(f"{prom}/-/ready") or None, deadline)

        # 1. Prometheus sends every target to exactly the replica hashmod picks, and all are up.
        def all_up() -> list[dict[str, Any]] | None:
            active = _api(prom, "targets", state="active")["activeTargets"]
            probes = [t for t in active if t["labels"]["job"] == "mcp_probe"]
            ok = len(probes) == TARGETS and all(t["health"] == "up" for t in probes)
            return probes if ok else None

        probes = _wait_for("every target up", all_up, time.monotonic() + 3 * INTERVAL_S)
        seen = Counter(t["labels"]["instance"] for t in probes)
        assert set(seen) == set(urls)
        assert set(seen.values()) == {1}, "a target is scraped more than once"
        for target in probes:
            scrape = urllib.parse.urlsplit(target["scrapeUrl"])
            instance = target["labels"]["instance"]
            assert f"http://{scrape.netloc}" == expected[instance], instance
            assert urllib.parse.parse_qs(scrape.query)["target"] == [instance]
            assert target["labels"]["module"] == "mcp"
            assert target["labels"]["team"] == "e2e"

        # 2. The replicas agree: each one probed exactly its share, and nothing else.
        probed = {e: _probed_targets(e) for e in exporters}
        for exporter in exporters:
            owned = {u for u, e in expected.items() if e == exporter}
            assert probed[exporter] == owned, exporter
        # And every probe succeeds: the targets are real MCP conversations.
        query = 'count(probe_success{job="mcp_probe"} == 1)'
        result = _api(prom, "query", query=query)["result"]
        assert result, "no successful probe"
        assert int(result[0]["value"][1]) == TARGETS, _api(
            prom, "query", query='probe_failure_info{job="mcp_probe"} == 1'
        )

        # 3. Stop one replica: exactly its share goes up == 0, the others stay up.
        stopped = 1
        procs[f"exporter-{stopped}"].terminate()
        procs[f"exporter-{stopped}"].wait(timeout=10)
        down_share = {u for u, e in expected.items() if e == exporters[stopped]}

        def down_instances() -> set[str] | None:
            result = _api(prom, "query", query='up{job="mcp_probe"} == 0')["result"]
            down = {r["metric"]["instance"] for r in result}
            return down if len(down) >= len(down_share) else None

        down = _wait_for("its share down", down_instances, time.monotonic() + 3 * INTERVAL_S)
        assert down == down_share
        up = _api(prom, "query", query='up{job="mcp_probe"} == 1')["result"]
        assert {r["metric"]["instance"] for r in up} == set(urls) - down_share

        # 4. The shipped rules alert on exactly that: the replica and its share.
        def firing() -> dict[str, set[str]] | None:
            alerts = _api(prom, "alerts")["alerts"]
            out: dict[str, set[str]] = {}
            for alert in alerts:
                if alert["state"] == "firing":
                    out.setdefault(alert["labels"]["alertname"], set()).add(
                        alert["labels"].get("instance", "")
                    )
            done = len(out.get("MCPProbeScrapeFailing", ())) >= len(down_share)
            return out if done and "MCPExporterDown" in out else None

        alerts = _wait_for("the alerts", firing, time.monotonic() + 10)
        assert alerts["MCPProbeScrapeFailing"] == down_share
        assert alerts["MCPExporterDown"] == {addresses[recipe_addresses[stopped]]}
        assert "MCPExporterNotScraped" not in alerts  # the job is still there, one replica is not
        assert "MCPProbeFailing" not in alerts  # the live replicas' probes still succeed

    assert time.monotonic() - started < 90
