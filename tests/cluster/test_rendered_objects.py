"""Every object the roles render themselves (not through a chart) sent to the real API server: Namespaces,
NodePort Services, Secrets, Istio resources, the analytics manifests. The API server's own validation (field
names with the CRDs' structural schemas, enums, CEL rules, port ranges, immutable fields) runs on all of it;
server-side dry-run, so nothing is left behind but the Namespaces the objects live in."""

import json

import pytest

from harness.helpers import run_ansible
from harness.kube import Cluster

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """What the roles send, rendered with the dev inventory by tests/ansible/render.yml."""
    out = tmp_path_factory.mktemp("render")
    result = run_ansible(
        "ansible-playbook",
        "-i",
        "inventories/dev",
        "tests/ansible/render.yml",
        env={"RENDER_OUT": str(out)},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return json.loads((out / "rendered.json").read_text())["manifests"]


def test_every_role_renders_something(manifests: dict[str, list[dict]]) -> None:
    assert {"pki", "istio", "identity_server", "apim", "analytics"} <= manifests.keys()
    assert all(manifests[role] for role in ("pki", "istio", "apim", "identity_server")), {
        k: len(v) for k, v in manifests.items()
    }


@pytest.mark.parametrize("role", ["pki", "istio", "identity_server", "apim", "analytics"])
def test_api_server_accepts(cluster: Cluster, crds: list[str], manifests: dict[str, list[dict]], role: str) -> None:
    objects = manifests[role]
    namespaces = sorted({o["metadata"]["namespace"] for o in objects if o["metadata"].get("namespace")})
    cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in namespaces])
    accepted = cluster.apply(objects, "--dry-run=server")
    assert accepted.count("(server dry run)") == len(objects), accepted
