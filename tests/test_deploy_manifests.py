"""The Kubernetes and Prometheus Operator manifests in deploy/: valid offline against the Kubernetes
OpenAPI schemas of a pinned version and the Operator's CRD schemas, consistent with each other and
with the image, carrying a config the exporter accepts, and exactly the shipped alert rules."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions, schema_contents
from referencing import Registry, Resource

from exporter.redact import is_sensitive_header

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S_DIR = DEPLOY / "kubernetes"
OPERATOR_DIR = DEPLOY / "prometheus-operator"
CRD_DIR = ROOT / "tests" / "testdata" / "prometheus-operator-crds"
RULES = ROOT / "grafana" / "rules" / "mcp-exporter.rules.yml"
DOCKERFILE = ROOT / "Dockerfile"

# The Kubernetes version the manifests are validated against (its schemas ship with
# kubernetes-validate 1.37.0), and the Operator release whose CRDs are vendored in CRD_DIR.
K8S_VERSION = "1.37.0"
OPERATOR_VERSION = "0.93.0"
SECRETS_DIR = "/etc/mcp-exporter/secrets/"


def _seconds(duration: str) -> float:
    """A Prometheus duration of the manifests ("30s", "1m", "500ms") in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+)(ms|s|m|h)", duration)
    assert "".join(n + u for n, u in parts) == duration != "", duration
    return sum(int(n) * units[u] for n, u in parts)


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _kustomization(directory: Path) -> dict[str, Any]:
    docs = _docs(directory / "kustomization.yaml")
    assert len(docs) == 1
    return docs[0]


def _resources(directory: Path) -> list[dict[str, Any]]:
    """Every manifest that the directory's kustomization lists, in order."""
    out: list[dict[str, Any]] = []
    for name in _kustomization(directory)["resources"]:
        out.extend(_docs(directory / name))
    return out


def _one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


K8S = _resources(K8S_DIR)
OPERATOR = _resources(OPERATOR_DIR)
DEPLOYMENT = _one(K8S, "Deployment")
POD = DEPLOYMENT["spec"]["template"]
CONTAINER = POD["spec"]["containers"][0]
CONFIGMAP = _one(K8S, "ConfigMap")
SECRET = _one(K8S, "Secret")
SERVICE = _one(K8S, "Service")
PDB = _one(K8S, "PodDisruptionBudget")
NAMESPACE = _kustomization(K8S_DIR)["namespace"]


def _flag(name: str) -> str:
    values: list[str] = [a.split("=", 1)[1] for a in CONTAINER["args"] if a.startswith(f"{name}=")]
    assert len(values) == 1, f"{name} must be given once in the container's args"
    return values[0]


def _config_text() -> str:
    path = Path(_flag("--config.file"))
    mounts = {Path(m["mountPath"]): m["name"] for m in CONTAINER["volumeMounts"]}
    volume = {v["name"]: v for v in POD["spec"]["volumes"]}[mounts[path.parent]]
    assert volume["configMap"]["name"] == CONFIGMAP["metadata"]["name"]
    return str(CONFIGMAP["data"][path.name])


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# --- Kubernetes OpenAPI schemas ------------------------------------------------------------------


def test_the_pinned_kubernetes_version_is_shipped_by_kubernetes_validate() -> None:
    versions = all_versions()
    assert K8S_VERSION in versions, versions
    # validate() falls back to an older schema set for an unknown version: make sure it does not.
    assert kubernetes_validate.validate(DEPLOYMENT, K8S_VERSION, strict=True) == "1.37"


@pytest.mark.parametrize("doc", K8S, ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_kubernetes_manifest_is_valid_for_the_pinned_version(doc: dict[str, Any]) -> None:
    # strict: unknown fields (a typo such as readOnlyRootFileSystem) are errors, not ignored.
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_strict_validation_rejects_an_unknown_field() -> None:
    broken = copy.deepcopy(DEPLOYMENT)
    broken["spec"]["template"]["spec"]["containers"][0]["securityContext"][
        "readOnlyRootFileSystem"
    ] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_every_manifest_file_is_in_its_kustomization() -> None:
    for directory in (K8S_DIR, OPERATOR_DIR):
        listed = set(_kustomization(directory)["resources"])
        files = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
        assert listed == files, directory


def test_the_kinds_the_deployment_needs_are_all_there() -> None:
    kinds = sorted(d["kind"] for d in K8S)
    assert kinds == sorted(
        ["ServiceAccount", "ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget"]
    )
    assert all("namespace" not in d["metadata"] for d in K8S + OPERATOR), (
        "the namespace comes from kustomization.yaml only"
    )


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (built-in kustomize) absent")
@pytest.mark.parametrize("directory", [K8S_DIR, OPERATOR_DIR], ids=lambda p: p.name)
def test_kustomize_builds_and_the_result_is_valid(directory: Path) -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert len(docs) == len(_resources(directory))
    for doc in docs:
        assert doc["metadata"]["namespace"] == NAMESPACE
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            _validate_crd(doc)
        else:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    if directory == K8S_DIR:
        image = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == "mcp-exporter:0.1.0"


# --- The Deployment ------------------------------------------------------------------------------


def test_deployment_runs_several_replicas_spread_and_protected_by_the_pdb() -> None:
    replicas = DEPLOYMENT["spec"]["replicas"]
    assert replicas >= 3
    labels = POD["metadata"]["labels"]
    assert _selects(DEPLOYMENT["spec"]["selector"]["matchLabels"], labels)
    assert _selects(PDB["spec"]["selector"]["matchLabels"], labels)
    # The budget lets a drain proceed (one at a time) but never takes all replicas.
    assert PDB["spec"].get("maxUnavailable") == 1
    assert "minAvailable" not in PDB["spec"]
    assert DEPLOYMENT["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    for spread in POD["spec"]["topologySpreadConstraints"]:
        assert _selects(spread["labelSelector"]["matchLabels"], labels)


def test_deployment_is_non_root_with_a_read_only_root_filesystem() -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    uid = int(re.search(r"^USER (\d+)$", dockerfile, re.MULTILINE).group(1))  # type: ignore[union-attr]
    pod_sc = POD["spec"]["securityContext"]
    sc = CONTAINER["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert pod_sc["runAsUser"] == sc["runAsUser"] == uid
    assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert POD["spec"]["automountServiceAccountToken"] is False
    # Everything the container may write is a volume: /tmp only.
    writable = [m for m in CONTAINER["volumeMounts"] if not m.get("readOnly")]
    assert [m["mountPath"] for m in writable] == ["/tmp"]


def test_deployment_health_checks_ports_and_resources() -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    port = int(re.search(r"^EXPOSE (\d+)$", dockerfile, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert CONTAINER["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert _flag("--web.listen-address") == f":{port}"
    # The probes run the image's health check command, which follows the web config (TLS, basic
    # auth); its own timeout stays inside the probe's.
    health = re.search(r'^  CMD \["([\w-]+)", "--path=/-/healthy"\]$', dockerfile, re.MULTILINE)
    assert health is not None
    for probe, path in (("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")):
        command = CONTAINER[probe]["exec"]["command"]
        assert command[:2] == [health.group(1), f"--path={path}"], probe
        (timeout,) = [float(a.split("=", 1)[1]) for a in command if a.startswith("--timeout=")]
        assert timeout < CONTAINER[probe]["timeoutSeconds"], probe
    resources = CONTAINER["resources"]
    for kind in ("requests", "limits"):
        assert set(resources[kind]) == {"cpu", "memory"}, kind
    assert SERVICE["spec"]["ports"][0]["port"] == port
    assert SERVICE["spec"]["ports"][0]["targetPort"] == "http"
    assert _selects(SERVICE["spec"]["selector"], POD["metadata"]["labels"])
    # The container must not depend on the image's default command.
    assert "command" not in CONTAINER


# --- Config and credentials ----------------------------------------------------------------------


def _secret_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        if set(node) == {"file"}:
            return [str(node["file"])]
        return [ref for value in node.values() for ref in _secret_refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _secret_refs(value)]
    return []


def test_credentials_come_from_the_secret_mounted_as_files() -> None:
    config = yaml.safe_load(_config_text())
    refs = _secret_refs(config)
    assert refs, "the example config shows how a module refers to a secret file"
    mounts = {m["name"]: m["mountPath"] for m in CONTAINER["volumeMounts"]}
    volumes = {v["name"]: v for v in POD["spec"]["volumes"]}
    secret_volumes = [n for n, v in volumes.items() if "secret" in v]
    assert len(secret_volumes) == 1
    volume = volumes[secret_volumes[0]]
    assert volume["secret"]["secretName"] == SECRET["metadata"]["name"]
    assert "items" not in volume["secret"], "every key becomes a file, named after the key"
    assert mounts[secret_volumes[0]].rstrip("/") + "/" == SECRETS_DIR
    # subPath mounts are not updated when the Secret or ConfigMap changes.
    assert all("subPath" not in m for m in CONTAINER["volumeMounts"])
    keys = set(SECRET["stringData"])
    for ref in refs:
        assert ref.startswith(SECRETS_DIR), ref
        assert ref.removeprefix(SECRETS_DIR) in keys, f"{ref} is not a key of the Secret"
    # No credential inline in the ConfigMap: every bearer token and credential header is a file.
    for name, module in config["modules"].items():
        mcp = module.get("mcp", {})
        if "bearer_token" in mcp:
            assert set(mcp["bearer_token"]) == {"file"}, name
        for header, value in mcp.get("headers", {}).items():
            if is_sensitive_header(header):
                assert isinstance(value, dict), f"{name}: header {header} is inline"
                assert set(value) == {"file"}, name
    for value in SECRET["stringData"].values():
        assert value not in _config_text()


def _check(config_text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.yml"
    path.write_text(config_text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "exporter", f"--config.file={path}", "--config.check"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_configmap_config_passes_config_check(tmp_path: Path) -> None:
    # The Secret as the kubelet would mount it, at a path of this machine.
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for key, value in SECRET["stringData"].items():
        (secrets / key).write_text(value, encoding="utf-8")
    text = _config_text().replace(SECRETS_DIR, f"{secrets}/")
    result = _check(text, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout
    # And the exporter does need those files: without them the same config is refused.
    shutil.rmtree(secrets)
    result = _check(text, tmp_path)
    assert result.returncode == 1
    assert "bearer_token" in result.stderr


# --- Prometheus Operator CRDs --------------------------------------------------------------------


def _strict(schema: Any) -> Any:
    """The CRD's structural schema with unknown fields rejected (the API server prunes them
    silently, which would hide a typo) and the Kubernetes-only keywords dropped."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    if (
        schema.get("type") == "object"
        and "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    return out


def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRD_DIR.glob("monitoring.coreos.com_*.yaml")):
        crd = _docs(path)[0]
        assert crd["metadata"]["annotations"]["operator.prometheus.io/version"] == OPERATOR_VERSION
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version["served"]:
                schema = _strict(version["schema"]["openAPIV3Schema"])
                schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


CRD_SCHEMAS = _crd_schemas()


def _validate_object_meta(metadata: dict[str, Any]) -> None:
    """metadata against Kubernetes' ObjectMeta (a CRD's schema leaves it to the API server)."""
    directory = f"kubernetes-json-schema/v{K8S_VERSION}-local-strict"
    schema = schema_contents(f"{directory}/objectmeta-meta-v1.json", K8S_VERSION)
    definitions = schema_contents(f"{directory}/_definitions.json", K8S_VERSION)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    jsonschema.Draft202012Validator(schema, registry=registry).validate(metadata)


def _validate_crd(doc: dict[str, Any]) -> None:
    schema = CRD_SCHEMAS[(doc["apiVersion"], doc["kind"])]
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(doc)
    _validate_object_meta(doc["metadata"])


def test_the_vendored_crds_cover_every_operator_kind() -> None:
    kinds = {(d["apiVersion"], d["kind"]) for d in OPERATOR}
    assert kinds <= set(CRD_SCHEMAS), kinds - set(CRD_SCHEMAS)
    assert {k for _, k in kinds} == {"Probe", "PodMonitor", "PrometheusRule"}


@pytest.mark.parametrize("doc", OPERATOR, ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_operator_manifest_is_valid_against_its_crd(doc: dict[str, Any]) -> None:
    _validate_crd(doc)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("spec", "prober", "adress"), "x:1"),  # unknown field
        (("spec", "prober", "scheme"), "tcp"),  # not in the enum
        (("spec", "targets", "staticConfig", "static"), "https://one.example/mcp"),  # not a list
        (("metadata", "labels", "bad"), 1),  # ObjectMeta: label values are strings
    ],
)
def test_crd_validation_rejects_a_broken_probe(where: tuple[str, ...], value: object) -> None:
    broken = copy.deepcopy(_one(OPERATOR, "Probe", "mcp-servers"))
    node = broken
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        _validate_crd(broken)


def test_probes_point_at_the_service_with_known_modules_and_the_rules_job_names() -> None:
    service = f"{SERVICE['metadata']['name']}.{NAMESPACE}.svc:{SERVICE['spec']['ports'][0]['port']}"
    modules = yaml.safe_load(_config_text())["modules"]
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    exprs = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    job_re = re.search(r'job=~"([^"]+)"', exprs["MCPProbeScrapeFailing"]).group(1)  # type: ignore[union-attr]
    probes = [d for d in OPERATOR if d["kind"] == "Probe"]
    assert {p["metadata"]["name"] for p in probes} == {"mcp-servers", "mcp-ingresses"}
    assert {next(iter(p["spec"]["targets"])) for p in probes} == {"staticConfig", "ingress"}
    for probe in probes:
        spec = probe["spec"]
        assert spec["prober"]["url"] == service
        assert spec["prober"]["path"] == "/probe"
        assert re.fullmatch(job_re, spec["jobName"]), spec["jobName"]
        module = modules[spec["module"]]
        # The scrape must outlast the module's timeout, or slow servers become failed scrapes.
        assert _seconds(spec["scrapeTimeout"]) > _seconds(module["timeout"])
        assert _seconds(spec["scrapeTimeout"]) < _seconds(spec["interval"])


def test_podmonitor_scrapes_every_replica_as_the_rules_exporter_job() -> None:
    monitor = _one(OPERATOR, "PodMonitor")
    assert _selects(monitor["spec"]["selector"]["matchLabels"], POD["metadata"]["labels"])
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    exprs = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    job = re.search(r'job="([^"]+)"', exprs["MCPExporterDown"]).group(1)  # type: ignore[union-attr]
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in {p["name"] for p in CONTAINER["ports"]}
    assert endpoint["path"] == "/metrics"
    job_rule = {"targetLabel": "job", "replacement": job, "action": "replace"}
    assert job_rule in endpoint["relabelings"]


# --- PrometheusRule: exactly the shipped alert rules ---------------------------------------------


def test_prometheusrule_is_in_sync_with_the_shipped_rules() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "grafana" / "mixin" / "build.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    rule = _one(OPERATOR, "PrometheusRule")
    shipped = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    assert rule["spec"]["groups"] == shipped["groups"]


def test_prometheusrule_groups_pass_promtool(tmp_path: Path) -> None:
    rule = _one(OPERATOR, "PrometheusRule")
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}), encoding="utf-8")
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
