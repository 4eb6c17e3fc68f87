"""Shared helpers for the chart tests: the pinned helm, rendering, and the pinned versions."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "charts"
CHART_NAMES = ("apim-adapter", "httpbin")


def pinned_versions() -> dict[str, str]:
    lines = (REPO / "versions.env").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


VERSIONS = pinned_versions()


def version(key: str) -> str:
    """A pin from versions.env (make exports the same values into the environment)."""
    value = VERSIONS.get(key) or os.environ.get(key)
    if not value:
        pytest.fail(f"{key} is not pinned: add it to versions.env", pytrace=False)
    return value


KUBERNETES_VERSION = version("KUBERNETES_VERSION")


def tool(name: str) -> str:
    """A pinned tool from .tools/bin; a missing one is a setup error, not a reason to skip."""
    path = REPO / ".tools" / "bin" / name
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path.relative_to(REPO)} is missing: run `make setup`", pytrace=False)
    return str(path)


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HELM_CACHE_HOME": str(REPO / ".cache" / "helm")}
    result = subprocess.run([tool("helm"), *args], capture_output=True, text=True, env=env, cwd=REPO)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
    return result


def lint(chart: str, *args: str) -> subprocess.CompletedProcess:
    """`helm lint --strict` of a chart for the pinned Kubernetes version; the caller judges the result."""
    return helm("lint", "--strict", str(CHARTS / chart), "--kube-version", KUBERNETES_VERSION, *args, check=False)


def values_args(values: dict | None, files: tuple[Path, ...]) -> list[str]:
    args: list[str] = []
    for file in files:
        args += ["-f", str(file)]
    for key, value in (values or {}).items():
        args += ["--set-json", f"{key}={json.dumps(value)}"]
    return args


def template(
    chart: str,
    *,
    values: dict | None = None,
    files: tuple[Path, ...] = (),
    namespace: str = "apim",
    check: bool = True,
) -> subprocess.CompletedProcess:
    return helm(
        "template",
        "rel",
        str(CHARTS / chart),
        "--namespace",
        namespace,
        "--kube-version",
        KUBERNETES_VERSION,
        *values_args(values, files),
        check=check,
    )


def render(chart: str, **kwargs) -> list[dict]:
    """Rendered objects of a chart, in order, without empty documents."""
    return [doc for doc in yaml.safe_load_all(template(chart, **kwargs).stdout) if doc]


def find(objects: list[dict], kind: str, name_suffix: str = "") -> dict:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(name_suffix)]
    assert len(matches) == 1, f"expected one {kind} ending in {name_suffix!r}, found {len(matches)}"
    return matches[0]


def kinds(objects: list[dict]) -> list[str]:
    return sorted(o["kind"] for o in objects)


def render_notes(chart: str, tmp_path: Path, values: dict | None = None) -> str:
    """NOTES.txt rendered by helm's own engine: `helm template` skips NOTES and `helm install --dry-run`
    needs a cluster, so a copy of the chart renders it through `tpl` into a ConfigMap."""
    copy = tmp_path / chart
    shutil.copytree(CHARTS / chart, copy)
    (copy / "notes-under-test.txt").write_text((copy / "templates" / "NOTES.txt").read_text())
    (copy / "templates" / "zz-notes-under-test.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-under-test\ndata:\n"
        '  notes: {{ tpl (.Files.Get "notes-under-test.txt") . | quote }}\n'
    )
    args = [
        "template",
        "rel",
        str(copy),
        "--namespace",
        "apim",
        "--kube-version",
        KUBERNETES_VERSION,
        "--show-only",
        "templates/zz-notes-under-test.yaml",
        *values_args(values, ()),
    ]
    return yaml.safe_load(helm(*args).stdout)["data"]["notes"]
