"""Shared helpers for the chart tests: the pinned helm and rendering."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

from harness.helpers import ROOT, tool, version

CHARTS = ROOT / "charts"
CHART_NAMES = ("apim-adapter", "httpbin")
KUBERNETES_VERSION = version("KUBERNETES_VERSION")


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HELM_CACHE_HOME": str(ROOT / ".cache" / "helm")}
    result = subprocess.run([tool("helm"), *args], capture_output=True, text=True, env=env, cwd=ROOT)
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


def exported_metric_names() -> set[str]:
    """The series names the adapter and mesh-sync export (adapter/src/apim_adapter/metrics.py, as prometheus_client
    names them)."""
    from prometheus_client import REGISTRY

    from apim_adapter import metrics  # registers the adapter's metrics; mesh-sync's are in its own registry

    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
    families = [*REGISTRY.collect(), *metrics.mesh_sync_registry().collect()]
    return {
        family.name + suffix
        for family in families
        if family.name.startswith(("apim_adapter_", "apim_mesh_sync_"))
        for suffix in suffixes.get(family.type, ())
    }


def alerts(objects) -> dict[str, dict]:
    """The PrometheusRule's alerts by name, from every group (the adapter's, and mesh-sync's where it runs)."""
    groups = find(objects, "PrometheusRule")["spec"]["groups"]
    return {rule["alert"]: rule | {"group": group["name"]} for group in groups for rule in group["rules"]}
