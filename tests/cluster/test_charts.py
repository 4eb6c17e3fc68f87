"""Every chart installed, upgraded and uninstalled with `--wait` on a real API server, with each of its values
files: admission, validation, defaulting and Helm's ownership run on what the charts render, and kwok turns the
Pods Ready so `--wait` means what it means on a cluster."""

import json
import re

import pytest
import yaml

from harness.helpers import ROOT
from harness.kube import TOOLS_BIN, Cluster

pytestmark = pytest.mark.cluster

CHARTS = ROOT / "charts"
CASES = [
    (chart.name, values.name if values else None)
    for chart in sorted(p for p in CHARTS.iterdir() if (p / "Chart.yaml").exists())
    for values in [None, *sorted((chart / "ci").glob("*.yaml"))]
]


def helm(cluster: Cluster, *args: str, namespace: str | None = None) -> str:
    """helm's output; when it fails (a `--wait` that ran out), the message carries what the API server says about
    the release's namespace: Pods and their conditions, ReplicaSets, the Node, events and the components' logs."""
    result = cluster.run(TOOLS_BIN / "helm", *args, "--kubeconfig", str(cluster.kubeconfig))
    assert result.returncode == 0, (
        f"helm {' '.join(args[:2])} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}\n"
        f"{cluster.describe(namespace)}"
    )
    return result.stdout


@pytest.mark.parametrize(("chart", "values"), CASES, ids=[f"{c}-{v or 'chart-defaults'}" for c, v in CASES])
def test_install_upgrade_uninstall(cluster: Cluster, crds: list[str], chart: str, values: str | None) -> None:
    namespace = re.sub(r"[^a-z0-9-]", "-", f"{chart}-{(values or 'defaults').removesuffix('.yaml')}")[:63]
    values_args = ["-f", str(CHARTS / chart / "ci" / values)] if values else []
    release = chart
    common = [release, str(CHARTS / chart), "-n", namespace, *values_args, "--wait", "--timeout=300s"]

    # Objects the chart puts beside the release (the AuthorizationPolicy in the gateway's namespace) need that
    # namespace, as on a cluster with Istio installed.
    rendered = yaml.safe_load_all(helm(cluster, "template", *common[:4], *values_args))
    elsewhere = {o["metadata"]["namespace"] for o in rendered if o and o["metadata"].get("namespace")} - {namespace}
    cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in sorted(elsewhere)])

    helm(cluster, "install", *common, "--create-namespace", namespace=namespace)
    deployments = json.loads(cluster.check(cluster.kubectl("get", "deployments", "-n", namespace, "-o", "json")))
    assert deployments["items"], f"{chart} with {values} created no Deployment"
    for deployment in deployments["items"]:
        status = deployment["status"]
        assert status.get("readyReplicas") == deployment["spec"]["replicas"], status

    # An upgrade re-applies every object: immutable fields (selectors, Service clusterIP) must not move.
    helm(cluster, "upgrade", *common, namespace=namespace)
    status = json.loads(helm(cluster, "status", release, "-n", namespace, "-o", "json"))
    assert (status["version"], status["info"]["status"]) == (2, "deployed")

    # Every object of the release is gone after uninstall (Pods go with their ReplicaSets, by garbage collection).
    manifest = helm(cluster, "get", "manifest", release, "-n", namespace)
    helm(cluster, "uninstall", release, "-n", namespace, "--wait", "--timeout=300s", namespace=namespace)
    left = cluster.check(
        cluster.kubectl("get", "-n", namespace, "--ignore-not-found", "-o", "name", "-f", "-", input=manifest)
    )
    assert left.strip() == "", f"left behind after uninstall: {left}"
    cluster.kubectl("delete", "namespace", namespace, "--wait=false")
