"""The control plane the cluster tests share: started once for this package (and stopped after its last test,
so the rest of `make test` does not carry its ~700 MiB), in a private network namespace."""

import sys
from pathlib import Path

import pytest
import yaml

from harness.kube import Cluster, control_plane, missing_binaries

# The CRDs come from the same source, at the same pins, as the chart schemas (tests/charts/crd_schemas.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "charts"))
import crd_schemas
from chart_helpers import version


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Cluster:
    missing = missing_binaries()
    if missing:
        pytest.fail(
            f"the Kubernetes control plane is not built ({', '.join(missing)}): run `make setup`", pytrace=False
        )
    with control_plane(tmp_path_factory.mktemp("kube")) as started:
        yield started


def upstream_crds() -> list[dict]:
    """Istio's and Gateway API's CRDs, and the Prometheus Operator's ServiceMonitor, PodMonitor and PrometheusRule
    CRDs, as users install them."""
    crds = []
    for module, version_key, files in crd_schemas.SOURCES.values():
        root = crd_schemas.module_dir(module, version(version_key))
        for file in files:
            documents = yaml.load_all((root / file).read_text(), Loader=crd_schemas.Loader)
            crds += [d for d in documents if d and d.get("kind") == "CustomResourceDefinition"]
    return crds


@pytest.fixture(scope="package")
def crds(cluster: Cluster) -> list[str]:
    """The upstream CRDs, applied and Established."""
    crds = upstream_crds()
    cluster.apply(crds)
    names = [f"crd/{crd['metadata']['name']}" for crd in crds]
    cluster.check(cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names))
    return names
