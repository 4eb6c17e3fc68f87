"""The roles that need neither Docker nor an unreachable chart repository, converged twice with the dev inventory
against the real API server: the first run creates everything, the second changes nothing.

`apim_setup` talks only to APIM's REST APIs, never to the API server: it is converged the same way, outside this
network namespace, against the APIM double in tests/ansible/test_apim_setup.py."""

import json
import re

import pytest

from apim_adapter.transport import REQUEST_HEADERS
from harness.helpers import ROOT, VENV_BIN
from harness.kube import Cluster

pytestmark = pytest.mark.cluster

CLUSTER_VARS = ROOT / "tests" / "cluster" / "cluster-vars.yml"
# In the order site.yml runs them: pki creates the namespaces and Secrets the charts refer to; istio applies what
# istio-apim adds to an Istio installed by other means (cluster-vars.yml), in the gateway namespace Istio made.
PLAYBOOKS = ["pki", "istio", "httpbin", "apim_adapter"]


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("dev-state")


def converge(cluster: Cluster, state_dir, playbook: str, *extra_vars: str) -> str:
    result = cluster.run(
        VENV_BIN / "ansible-playbook",
        "-i",
        "inventories/dev",
        f"playbooks/{playbook}.yml",
        "-e",
        f"@{CLUSTER_VARS}",
        "-e",
        f"stack_state_dir={state_dir}",
        *(arg for var in extra_vars for arg in ("-e", var)),
        env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
    )
    # The httpbin and apim_adapter roles install their charts with helm's --wait: say what the Pods were doing.
    assert result.returncode == 0, (
        f"{playbook}:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}\n{cluster.describe()}"
    )
    return result.stdout


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_converges_then_changes_nothing(cluster: Cluster, crds: list[str], state_dir, playbook: str) -> None:
    if playbook == "istio":
        cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-ingress"}}])
    first = converge(cluster, state_dir, playbook)
    assert not re.search(r"\bchanged=0\b", first), f"{playbook}: the first run created nothing:\n{first[-2000:]}"
    if playbook == "istio":
        # Istio installed by other means: the role shows the extension providers to add, the access log one too.
        assert {"envoyExtAuthzGrpc", "envoyHttpAls"} <= set(re.findall(r"\benvoy\w+(?=:)", first)), first[-4000:]
    second = converge(cluster, state_dir, playbook)
    assert re.search(r"\bchanged=0\b", second), f"{playbook}: the second run changed something:\n{second[-4000:]}"


def test_objects_are_in_place(cluster: Cluster, crds: list[str]) -> None:
    """What the roles leave behind, as the later stages and the gateway expect to find it."""
    secrets = cluster.check(
        cluster.kubectl("get", "secrets", "-A", "-l", "app.kubernetes.io/managed-by=istio-apim-pki", "-o", "name")
    )
    assert "secret/apim-adapter-ca" in secrets
    releases = cluster.check(cluster.run("helm", "list", "-A", "-q"))
    assert {"httpbin", "apim-adapter"} <= set(releases.split())
    policy = cluster.check(cluster.kubectl("get", "authorizationpolicies.security.istio.io", "-A", "-o", "name"))
    assert policy.strip(), "the adapter's CUSTOM AuthorizationPolicy is missing"
    # The istio role's EnvoyFilter on the gateway's ext_authz filter (clear_route_cache, the adapter's header
    # allowlist), accepted by the API server against Istio's CRD, and the injected namespace.
    envoy_filter = json.loads(
        cluster.check(
            cluster.kubectl(
                "get", "envoyfilters.networking.istio.io", "apim-adapter-ext-authz", "-n", "istio-ingress", "-o", "json"
            )
        )
    )
    [patch] = envoy_filter["spec"]["configPatches"]
    merged = patch["patch"]["value"]["typed_config"]
    assert merged["clear_route_cache"] is True
    assert [p["exact"] for p in merged["allowed_headers"]["patterns"]] == list(REQUEST_HEADERS)
    namespace = json.loads(cluster.check(cluster.kubectl("get", "namespace", "httpbin", "-o", "json")))
    assert namespace["metadata"]["labels"].get("istio-injection") == "enabled"
    # The adapter chart's Telemetry sending the gateway's access log to the adapter's access log service, beside
    # Istio's stdout log, accepted against Istio's CRD.
    telemetry = json.loads(
        cluster.check(
            cluster.kubectl("get", "telemetries.telemetry.istio.io", "apim-adapter-access-log", "-n", "istio-ingress",
                            "-o", "json")
        )
    )  # fmt: skip
    assert telemetry["spec"]["accessLogging"] == [{"providers": [{"name": "envoy"}, {"name": "apim-adapter-als"}]}]


def test_istio_prunes_the_envoy_filters_it_no_longer_applies(cluster: Cluster, crds: list[str], state_dir) -> None:
    """An EnvoyFilter the role applied before under another name (earlier versions named it
    `<fullname>-clear-route-cache`) stops patching the gateway on the next run, and `istio_state: absent` removes
    every one the role applied; one Helm installed with an apim-adapter release is that release's and stays."""
    envoy_filters = "envoyfilters.networking.istio.io"
    get = cluster.kubectl("get", envoy_filters, "apim-adapter-ext-authz", "-n", "istio-ingress", "-o", "json")
    current = json.loads(cluster.check(get))

    def copy(name: str, annotations: dict[str, str]) -> dict:
        metadata = {"name": name, "namespace": "istio-ingress", "labels": current["metadata"]["labels"]}
        return {**{k: current[k] for k in ("apiVersion", "kind", "spec")},
                "metadata": {**metadata, "annotations": annotations}}  # fmt: skip

    def left() -> list[str]:
        names = cluster.check(cluster.kubectl("get", envoy_filters, "-n", "istio-ingress", "-o", "name")).split()
        return sorted(name.removeprefix("envoyfilter.networking.istio.io/") for name in names)

    helm_owned = {"meta.helm.sh/release-name": "other", "meta.helm.sh/release-namespace": "istio-ingress"}
    cluster.apply([copy("apim-adapter-clear-route-cache", {}), copy("other-apim-adapter-ext-authz", helm_owned)])
    converge(cluster, state_dir, "istio")
    assert left() == ["apim-adapter-ext-authz", "other-apim-adapter-ext-authz"]
    converge(cluster, state_dir, "istio", "istio_state=absent")
    assert left() == ["other-apim-adapter-ext-authz"]
    cluster.check(cluster.kubectl("delete", envoy_filters, "other-apim-adapter-ext-authz", "-n", "istio-ingress"))
    converge(cluster, state_dir, "istio")
    assert left() == ["apim-adapter-ext-authz"]


def test_the_httpbin_api_comes_from_its_annotated_service(cluster: Cluster, crds: list[str]) -> None:
    """inventories/dev `stack_api_from_service`: the Service carries the export annotations and its OpenAPI
    ConfigMap, no hand-written VirtualService is installed, mesh-sync runs with the export Role in httpbin's
    namespace."""
    service = json.loads(cluster.check(cluster.kubectl("get", "service", "httpbin", "-n", "httpbin", "-o", "json")))
    annotations = service["metadata"]["annotations"]
    assert annotations["apim.istio-apim.io/expose"] == "true"
    assert annotations["apim.istio-apim.io/openapi-configmap"] == "httpbin-openapi/openapi.yaml"
    cluster.check(cluster.kubectl("get", "configmap", "httpbin-openapi", "-n", "httpbin"))
    routes = cluster.check(cluster.kubectl("get", "virtualservices.networking.istio.io", "-n", "httpbin", "-o", "name"))
    assert routes.strip() == ""
    cluster.check(cluster.kubectl("get", "deployment", "apim-adapter-mesh-sync", "-n", "apim-adapter"))
    role = json.loads(cluster.check(cluster.kubectl("get", "role", "apim-adapter-mesh-sync-export", "-n", "httpbin",
                                                    "-o", "json")))  # fmt: skip
    assert {r["resources"][0] for r in role["rules"]} == {"services", "configmaps", "events"}
