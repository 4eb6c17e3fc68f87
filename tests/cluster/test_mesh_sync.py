"""mesh-sync against the real API server with Istio's CRDs: `apim-adapter mesh-sync` runs as users run it (its own
process, a ServiceAccount token bound to only the RBAC it needs), the APIM double serves the internal data API and
the runtime artifacts, and the tests change APIM and watch the mesh follow.

Both the double and mesh-sync live in the cluster's network namespace: the double's server thread is started
from inside it (setns), mesh-sync through nsenter. The event hub is not used here: a one-second resync carries
every change here; adapter/tests/wso2/test_meshsync_events.py proves the event path on a real broker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_helpers import alerts, find, render  # tests/charts, put on sys.path by conftest.py
from lightkube import AsyncClient, KubeConfig
from lightkube.generic_resource import create_namespaced_resource

from apim_adapter.meshsync import kube
from harness.apim_double import ApimDouble
from harness.kube import Cluster
from harness.promql import as_sent, evaluate, panel_queries, scraped
from harness.sample_catalog import api_product

from .mesh_helpers import (
    CHART_VALUES,
    GATEWAY,
    Replicas,
    apim_in,
    chart_service_account,
    inside,
    probe,
    published_api,
    replicas_of,
    token_kubeconfig,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.cluster

NAMESPACE = "apim-routes"
HTTPBIN = "httpbin.default.svc.cluster.local"


def chart_objects() -> list[dict[str, Any]]:
    rendered = render("apim-adapter", values=CHART_VALUES, namespace=NAMESPACE)
    return [o for o in rendered if o["metadata"]["name"].endswith("-mesh-sync")]


@pytest.fixture(scope="module")
def kubeconfig(cluster: Cluster, crds: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kubeconfig holding only the token of the chart's mesh-sync ServiceAccount, bound to the chart's Role."""
    return chart_service_account(cluster, NAMESPACE, tmp_path_factory.mktemp("mesh-sync"), CHART_VALUES)


@pytest.fixture(scope="module")
def apim(cluster: Cluster) -> Iterator[ApimDouble]:
    with apim_in(cluster, apis=[published_api("api-v1", "1.0.0", f"http://{HTTPBIN}:8000", default=True)]) as double:
        yield double


@pytest.fixture(scope="module")
def config(apim: ApimDouble, kubeconfig: Path) -> Path:
    return write_config(kubeconfig, apim, namespace=NAMESPACE)


@pytest.fixture(scope="module")
def replicas(cluster: Cluster, config: Path) -> Iterator[Replicas]:
    with replicas_of(cluster, config) as started:
        yield started


def get(cluster: Cluster, kind: str, *args: str) -> Any:
    return json.loads(cluster.check(cluster.kubectl("get", kind, "-n", NAMESPACE, "-o", "json", *args)))


def owned(cluster: Cluster) -> list[dict[str, Any]]:
    return get(cluster, "virtualservices", "-l", "app.kubernetes.io/managed-by=apim-mesh-sync")["items"]


def routes(cluster: Cluster) -> dict[str, tuple[str, str]]:
    """Every routed path (exact `=/p`, prefix `/p/`) → (rewrite, destination host:port)."""
    out = {}
    for vs in owned(cluster):
        for route in vs["spec"]["http"]:
            [(kind, path)] = route["match"][0]["uri"].items()
            dest = route["route"][0]["destination"]
            out[("=" if kind == "exact" else "") + path] = (
                route["rewrite"]["uri"],
                f"{dest['host']}:{dest['port']['number']}",
            )
    return out


def status(cluster: Cluster) -> dict[str, Any]:
    return json.loads(get(cluster, "configmap", "apim-mesh-sync-status")["data"]["status.json"])


def test_a_published_api_is_routed_on_the_gateway(cluster: Cluster, replicas: Replicas) -> None:
    got = wait_until(lambda: routes(cluster), "the httpbin VirtualService")
    target = f"{HTTPBIN}:8000"
    assert got == {"=/httpbin/1.0.0": ("/", target), "/httpbin/1.0.0/": ("/", target),
                   "=/httpbin": ("/", target), "/httpbin/": ("/", target)}  # fmt: skip
    [vs] = owned(cluster)
    assert vs["spec"]["gateways"] == [GATEWAY]
    assert vs["spec"]["hosts"] == ["api.example.com"]
    assert vs["metadata"]["annotations"]["apim.wso2.com/api-uuids"] == "api-v1"
    assert wait_until(lambda: status(cluster)["routed"] == ["api-v1"], "the status ConfigMap")


def test_an_external_endpoint_is_reported_not_routed(cluster: Cluster, replicas: Replicas, apim: ApimDouble) -> None:
    outside = published_api("api-ext", "1.0.0", "https://httpbin.org", default=False)
    outside.update(name="external", context="/external/1.0.0")
    apim.data["apis"] = [*apim.data["apis"], outside]
    report = wait_until(lambda: status(cluster)["unrouted"], "the external API in the status")
    assert [(r["apiId"], "outside the cluster" in r["reason"]) for r in report] == [("api-ext", True)]
    assert not any(path.startswith(("/external", "=/external")) for path in routes(cluster))
    assert "API not routed" in replicas.logs()
    assert "httpbin.org" not in replicas.logs()


def test_the_dashboard_and_the_alerts_read_what_the_leader_found(cluster: Cluster, replicas: Replicas) -> None:
    """Two replicas' real /metrics (the leader and a standby), labelled as the chart's PodMonitor has Prometheus label
    them and held for twenty minutes, judged by the chart's mesh-sync row and alerts in Prometheus's own engine: one
    API routed and the external one not (ApimMeshSyncApisUnrouted, and no other alert, fires), one replica leading
    (the standby reports none of the leader's findings), converged seconds ago, nothing failed."""
    [leader] = replicas.running
    wait_until(lambda: replicas.leading() == [leader], "one replica leading")
    standby = replicas.start()
    try:
        wait_until(lambda: "mesh-sync started" in replicas.running[standby].log(), "the standby started")
        assert replicas.metrics(standby)[("apim_mesh_sync_leader", ())] == 0
        unrouted = ("apim_mesh_sync_apis_unrouted", ())
        wait_until(lambda: replicas.metrics(leader)[unrouted] == 1, "the leader reporting the external API")
        now = time.time()
        held = {name: replicas.metrics(name) for name in (leader, standby)}
    finally:
        replicas.stop(standby)
    assert held[leader][("apim_mesh_sync_leader", ())] == 1
    # None of the adapter's own series: a catalog "loaded at 0" would list mesh-sync in the dashboard's release picker.
    assert not [name for name, _ in held[leader] if name.startswith("apim_adapter_catalog_")]
    assert ("process_resident_memory_bytes", ()) in held[leader]
    assert held[standby][unrouted] == 0
    assert 0 <= now - held[leader][("apim_mesh_sync_last_converged_timestamp_seconds", ())] < 10
    objects = render("apim-adapter", values={**CHART_VALUES, "serviceMonitor.enabled": True,
                                             "prometheusRule.enabled": True})  # fmt: skip
    monitor = find(objects, "PodMonitor")["metadata"]
    target = {"namespace": monitor["namespace"], "job": f"{monitor['namespace']}/{monitor['name']}"}
    series = []
    for i, name in enumerate(held, 1):
        pod = {**target, "pod": f"{monitor['name']}-7b5c6-{name}", "instance": f"10.244.{i}.9:9091"}
        series += scraped([(now - 1200 + 60 * minute, held[name]) for minute in range(21)], pod)

    release = {"namespace": monitor["namespace"], "job": monitor["name"].removesuffix("-mesh-sync")}
    queries = [(title, t) for title, t in panel_queries() if "apim_mesh_sync_" in t["expr"]]
    answers = evaluate(series, [(as_sent(t["expr"], **release, rate_interval="5m"), now) for _, t in queries])
    lines = {}
    for (title, t), answer in zip(queries, answers, strict=True):
        assert not answer.error, (title, answer.error)
        lines[t["legendFormat"]] = {tuple(sorted(labels.items())): v for labels, v in answer.series}
    assert lines["routed"] == {(): 1}
    assert lines["not routed"] == {(): 1}
    assert lines["conflicts"] == lines["routes refused"] == {(): 0}
    assert lines["replicas leading"] == {(): 1}
    assert 0 <= lines["since converged"][()] < 10
    assert set(lines["{{operation}}"]) == {(("operation", op),) for op in ("apim", "kubernetes", "lease", "export")}
    assert not any(lines["{{operation}}"].values())

    rules = [rule for rule in alerts(objects).values() if rule["group"] == "apim-mesh-sync"]
    assert len(rules) == 6  # no Service export here
    firing = {}
    for rule in rules:
        span = int(float(rule.get("for", "0m")[:-1]))  # minutes
        answers = evaluate(series, [(rule["expr"], now - 60 * m) for m in range(span + 1)])
        if all(answer.series for answer in answers):
            firing[rule["alert"]] = answers[0].series
    assert firing == {"ApimMeshSyncApisUnrouted": [({"namespace": target["namespace"], "job": target["job"]}, 1)]}


def test_apim_unavailable_leaves_the_routes_and_counts_each_failed_pull(
    cluster: Cluster, replicas: Replicas, apim: ApimDouble
) -> None:
    """APIM's internal data API answering 503 (the double's unavailable answer): the routes stay as they are, each
    failed pull is logged and counted (ApimMeshSyncFailing's series, operation apim) and the routes stop counting
    as converged (ApimMeshSyncNotConverging's); once APIM answers they converge again."""
    [leader] = replicas.running
    before = routes(cluster)
    failed = ("apim_mesh_sync_failures_total", (("operation", "apim"),))
    converged = ("apim_mesh_sync_last_converged_timestamp_seconds", ())
    counted = replicas.metrics(leader)[failed]
    apim.up = False
    try:
        wait_until(lambda: replicas.metrics(leader)[failed] >= counted + 2, "failed pulls counted")
        stale = replicas.metrics(leader)[converged]
        wait_until(lambda: replicas.metrics(leader)[failed] >= counted + 3, "a pull failed since")
        assert replicas.metrics(leader)[converged] == stale
        assert routes(cluster) == before
        assert "APIM pull failed; routes left as they are" in replicas.logs()
    finally:
        apim.up = True
    wait_until(lambda: replicas.metrics(leader)[converged] > stale, "converged again once APIM answers")
    assert routes(cluster) == before


def test_a_leader_that_stalled_and_lost_the_lease_reports_none_of_its_findings(
    cluster: Cluster, replicas: Replicas
) -> None:
    """A leader frozen past its lease (SIGSTOP: a node stalling) while a standby takes over, then thawed, finds the
    Lease held by another and stops leading: its gauges drop to 0, so a maximum over the replicas stays the new
    leader's (one API routed and one not, not two of each)."""
    [stalled] = replicas.running
    wait_until(lambda: replicas.leading() == [stalled], "one replica leading")
    unrouted = ("apim_mesh_sync_apis_unrouted", ())
    wait_until(lambda: replicas.metrics(stalled)[unrouted] == 1, "the leader's findings")
    standby = replicas.start()
    try:
        wait_until(lambda: "mesh-sync started" in replicas.running[standby].log(), "the standby started")
        os.killpg(replicas.running[stalled].proc.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: "leading: converging" in replicas.running[standby].log(), "the standby leading")
        finally:
            os.killpg(replicas.running[stalled].proc.pid, signal.SIGCONT)
        wait_until(lambda: "no longer leading" in replicas.running[stalled].log(), "the thawed replica standing by")
        found = replicas.metrics(stalled)
        assert found[("apim_mesh_sync_leader", ())] == 0
        assert (found[("apim_mesh_sync_apis_routed", ())], found[unrouted]) == (0, 0)
        wait_until(lambda: replicas.metrics(standby)[unrouted] == 1, "the new leader's findings")
        assert replicas.metrics(standby)[("apim_mesh_sync_apis_routed", ())] == 1
    finally:
        replicas.stop(stalled)


def test_an_api_product_is_routed_to_the_api_it_bundles_and_leaves_with_it(
    cluster: Cluster, replicas: Replicas, apim: ApimDouble
) -> None:
    httpbin = apim.data["apis"][0]
    taken = [
        m for m in httpbin["urlMappings"] if m["urlPattern"] in ("/ip", "/anything/*") and m["httpMethod"] == "GET"
    ]
    bundle = {**api_product("product-bundle", 2, "Bundle", "/bundle/1.0.0", taken),
              "_bundledApis": [httpbin["uuid"]], "_revision": "rev-bundle"}  # fmt: skip
    apim.data["apis"] = [*apim.data["apis"], bundle]
    target = f"{HTTPBIN}:8000"
    wait_until(lambda: "=/bundle/1.0.0/ip" in routes(cluster), "the product's routes")
    got = {path: route for path, route in routes(cluster).items() if "bundle" in path}
    assert got == {
        "=/bundle/1.0.0/anything": ("/anything", target), "/bundle/1.0.0/anything/": ("/anything/", target),
        "=/bundle/1.0.0/ip": ("/ip", target), "/bundle/1.0.0/ip/": ("/ip/", target),
        "=/bundle/anything": ("/anything", target), "/bundle/anything/": ("/anything/", target),
        "=/bundle/ip": ("/ip", target), "/bundle/ip/": ("/ip/", target),
    }  # fmt: skip
    assert "product-bundle" in status(cluster)["routed"]
    apim.data["apis"] = [a for a in apim.data["apis"] if a["uuid"] != "product-bundle"]
    wait_until(lambda: not any("bundle" in path for path in routes(cluster)), "the product's routes removed")


def test_a_hand_edit_is_repaired_and_objects_not_ours_are_left_alone(cluster: Cluster, replicas: Replicas) -> None:
    cluster.apply([{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                    "metadata": {"name": "hand-written", "namespace": NAMESPACE},
                    "spec": {"hosts": ["x"], "http": [{"route": [{"destination": {"host": "x"}}]}]}}])  # fmt: skip
    [vs] = owned(cluster)
    name = vs["metadata"]["name"]
    patch = [
        {"op": "replace", "path": "/spec/http/0/route/0/destination/host", "value": "evil.default.svc.cluster.local"}
    ]
    cluster.check(
        cluster.kubectl("patch", "virtualservice", name, "-n", NAMESPACE, "--type=json", "-p", json.dumps(patch))
    )
    wait_until(lambda: routes(cluster)["=/httpbin/1.0.0"][1] == f"{HTTPBIN}:8000", "the repaired destination")
    cluster.check(cluster.kubectl("delete", "virtualservice", name, "-n", NAMESPACE))
    wait_until(lambda: "=/httpbin/1.0.0" in routes(cluster), "the deleted VirtualService recreated")
    assert get(cluster, "virtualservice", "hand-written")["spec"]["hosts"] == ["x"]


def test_a_version_bump_moves_the_default_context(cluster: Cluster, replicas: Replicas, apim: ApimDouble) -> None:
    v1 = {**apim.data["apis"][0], "isDefaultVersion": False}
    v2 = published_api("api-v2", "2.0.0", "http://httpbin-v2.default.svc:8080/v2", default=True)
    apim.data["apis"] = [v1, v2, *apim.data["apis"][1:]]
    got = wait_until(lambda: routes(cluster).get("/httpbin/") == ("/v2/", "httpbin-v2.default.svc.cluster.local:8080"),
                     "the default context on 2.0.0") and routes(cluster)  # fmt: skip
    assert got["/httpbin/1.0.0/"] == ("/", f"{HTTPBIN}:8000")
    assert got["=/httpbin/2.0.0"] == ("/v2", "httpbin-v2.default.svc.cluster.local:8080")
    [vs] = owned(cluster)  # one object for both versions: the versioned routes come before `/httpbin/`
    paths = [next(iter(r["match"][0]["uri"].values())) for r in vs["spec"]["http"]]
    assert paths.index("/httpbin/") > max(paths.index("/httpbin/1.0.0/"), paths.index("/httpbin/2.0.0/"))


def test_retired_and_deleted_apis_lose_their_routes(cluster: Cluster, replicas: Replicas, apim: ApimDouble) -> None:
    apim.data["apis"] = [{**a, "status": "RETIRED"} if a["uuid"] == "api-v1" else a for a in apim.data["apis"]]
    wait_until(lambda: "/httpbin/1.0.0/" not in routes(cluster), "1.0.0's routes removed")
    assert "/httpbin/2.0.0/" in routes(cluster)
    apim.data["apis"] = [a for a in apim.data["apis"] if a["uuid"] not in ("api-v1", "api-v2")]
    wait_until(lambda: owned(cluster) == [], "the VirtualService garbage-collected")
    assert get(cluster, "virtualservice", "hand-written")["metadata"]["name"] == "hand-written"


def test_a_restart_converges_what_changed_while_down(cluster: Cluster, replicas: Replicas, apim: ApimDouble) -> None:
    [name] = replicas.running
    replicas.stop(name)
    apim.data["apis"] = [*apim.data["apis"], published_api("api-v3", "3.0.0", f"http://{HTTPBIN}:8000", default=True)]
    replicas.start()
    wait_until(lambda: "=/httpbin" in routes(cluster), "the API published while mesh-sync was down", timeout=45)


def test_two_replicas_one_leader_and_a_takeover(cluster: Cluster, replicas: Replicas, apim: ApimDouble) -> None:
    [first] = replicas.running
    wait_until(lambda: replicas.leading() == [first], "the first replica leading")
    second = replicas.start()
    lease = lambda: get(cluster, "lease", "apim-mesh-sync")["spec"]  # noqa: E731
    holder = lease()["holderIdentity"]
    transitions = lease().get("leaseTransitions", 0)
    deadline = time.monotonic() + 8  # more than two lease durations: the lease must not change hands
    while time.monotonic() < deadline:
        assert lease()["holderIdentity"] == holder, replicas.logs()
        time.sleep(0.5)
    assert lease().get("leaseTransitions", 0) == transitions
    assert replicas.leading() == [first]
    replicas.stop(first)  # released on SIGTERM: the second takes over at its next attempt
    wait_until(lambda: replicas.leading() == [second], "the second replica leading", timeout=30)
    apim.data["apis"] = [a for a in apim.data["apis"] if a["uuid"] != "api-v3"]
    wait_until(lambda: owned(cluster) == [], "the new leader converging")


def test_a_crashed_leaders_lease_runs_out_and_another_replica_takes_over(
    cluster: Cluster, replicas: Replicas, apim: ApimDouble
) -> None:
    [leader] = replicas.running
    wait_until(lambda: replicas.leading() == [leader], "one replica leading")
    standby = replicas.start()
    wait_until(lambda: "mesh-sync started" in replicas.running[standby].log(), "the standby replica started")
    replicas.kill(leader)
    wait_until(lambda: replicas.leading() == [standby], "the standby leading after the lease ran out", timeout=30)
    apim.data["apis"] = [*apim.data["apis"], published_api("api-v4", "4.0.0", f"http://{HTTPBIN}:8000", default=False)]
    wait_until(lambda: "/httpbin/4.0.0/" in routes(cluster), "the standby converging")


def test_probe_says_mesh_syncs_identity_may_do_all_it_does(cluster: Cluster, config: Path) -> None:
    """With the chart's Role: APIM's data API answers its user, and the API server lets the chart's ServiceAccount
    do every one of the 18 things mesh-sync does with VirtualServices (HTTPRoutes are only cleaned up)."""
    result = probe(cluster, config)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2, lines  # no key manager, no Redis: the adapter's dependencies, not mesh-sync's
    assert lines[0].startswith("ok      control plane: APIM's internal data API")
    assert lines[1] == ("ok      mesh-sync: the Kubernetes API server: may do the 18 things mesh-sync does "
                        f"({NAMESPACE}); VirtualService and DestinationRule served")  # fmt: skip


def test_probe_names_what_a_trimmed_role_does_not_grant(
    cluster: Cluster, kubeconfig: Path, apim: ApimDouble, tmp_path: Path
) -> None:
    """A Role edited by hand (leases readable, not writable): the probe names the two verbs missing and fails,
    which is why mesh-sync would never lead (ApimMeshSyncNoLeader's runbook sends the engineer here)."""
    [role] = [o for o in chart_objects() if o["kind"] == "Role"]
    rules = [{**rule, "verbs": ["get"]} if rule["resources"] == ["leases"] else rule for rule in role["rules"]]
    account, meta = "trimmed-mesh-sync", {"name": "trimmed-mesh-sync", "namespace": NAMESPACE}
    cluster.apply([
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
         "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]},
    ])  # fmt: skip
    result = probe(cluster, write_config(token_kubeconfig(cluster, account, NAMESPACE, tmp_path), apim,
                                         namespace=NAMESPACE))  # fmt: skip
    assert result.returncode == 1
    missing = "create leases.coordination.k8s.io, update leases.coordination.k8s.io"
    assert (f"FAILED  mesh-sync: the Kubernetes API server: its identity may not {missing} in {NAMESPACE} "
            "(the chart's Roles grant them)") in result.stdout  # fmt: skip


def test_the_charts_mesh_sync_deployment_passes_the_api_server(cluster: Cluster, kubeconfig: Path) -> None:
    """The chart's Deployment (and the config it mounts) as the API server validates them; its Role is the one
    every test above ran with."""
    objects = chart_objects()
    deployment = find(objects, "Deployment")
    cluster.apply([deployment], "--dry-run=server")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"][0] == "mesh-sync"
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector["app.kubernetes.io/name"] == "apim-adapter-mesh-sync"  # not the adapter Service's pods
    config = yaml.safe_load(
        find(render("apim-adapter", values=CHART_VALUES, namespace=NAMESPACE), "ConfigMap")["data"]["config.yaml"]
    )
    assert config["meshSync"]["namespace"] == NAMESPACE
    assert config["meshSync"]["gateways"] == [GATEWAY]


def test_a_route_kind_the_cluster_does_not_serve_is_skipped_only_as_the_other_kind(
    cluster: Cluster, crds: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gateway API's CRDs missing in a VirtualService cluster: the API server answers a list of HTTPRoutes with a
    plain-text 404 (which lightkube raises as its HTTP client's HTTPStatusError, not as ApiError).
    Converging skips such a kind when it is the route kind no longer written, and fails on it otherwise. (Every
    kind here is served, so the test lists a kind no CRD defines.)"""
    missing = create_namespaced_resource("apim-test.example.com", "v1", "Missing", "missings")
    monkeypatch.setitem(kube.KINDS, "Missing", missing)

    async def converge(other_kinds: set[str]) -> kube.Converged:
        client = AsyncClient(KubeConfig.from_file(str(cluster.kubeconfig)))
        try:
            return await kube.converge(client, "apim-nothing-here", [], other_kinds)
        finally:
            await client.close()

    with inside(cluster.netns):
        assert asyncio.run(converge({"Missing"})) == kube.Converged()
        with pytest.raises(kube.NotServed, match=r"does not serve Missing \(apim-test.example.com/v1\)"):
            asyncio.run(converge(set()))


def test_converging_stops_writing_once_leadership_is_lost(cluster: Cluster, crds: list[str]) -> None:
    """The lease lapses between two writes of a pass (the process stalled): the writes left are not made, so a
    former leader does not write its older view over the new leader's objects."""
    namespace = "apim-fenced"
    cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}])

    def route(name: str) -> dict[str, Any]:
        return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                "metadata": {"name": name, "namespace": namespace,
                             "labels": {kube.LABEL_MANAGED_BY: kube.MANAGED_BY}},
                "spec": {"hosts": ["api.example.com"],
                         "http": [{"route": [{"destination": {"host": name}}]}]}}  # fmt: skip

    asked = []

    def leading() -> bool:  # leading for the first write only
        asked.append(True)
        return len(asked) == 1

    async def converge() -> None:
        client = AsyncClient(KubeConfig.from_file(str(cluster.kubeconfig)))
        try:
            await kube.converge(client, namespace, [route("first"), route("second")], leading=leading)
        finally:
            await client.close()

    stopped = pytest.raises(kube.NotLeading, match="stopped before applying VirtualService/second")
    with inside(cluster.netns), stopped:
        asyncio.run(converge())
    listed = json.loads(cluster.check(cluster.kubectl("get", "virtualservices", "-n", namespace, "-o", "json")))
    assert [vs["metadata"]["name"] for vs in listed["items"]] == ["first"]
