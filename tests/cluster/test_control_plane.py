"""The control plane itself: the pinned release, a Ready node, and a network namespace nothing leaves."""

import json
import re
import sys
from datetime import UTC, datetime, timedelta

import pytest
from chart_helpers import version  # tests/charts, put on sys.path by conftest.py

from harness.kube import NODE_LEASE_SECONDS, NODE_NAME, Cluster

pytestmark = pytest.mark.cluster


def test_server_reports_the_pinned_release(cluster: Cluster) -> None:
    """Helm checks charts' kubeVersion against it: an unstamped build reports v0.0.0 and every chart is refused."""
    versions = json.loads(cluster.check(cluster.kubectl("version", "-o", "json")))
    expected = version("KUBE_CONTROL_PLANE_VERSION")
    assert versions["serverVersion"]["gitVersion"] == expected
    assert versions["clientVersion"]["gitVersion"] == expected


def test_simulated_node_is_ready_and_schedulable(cluster: Cluster) -> None:
    node = json.loads(cluster.check(cluster.kubectl("get", "node", NODE_NAME, "-o", "json")))
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    assert not node["spec"].get("taints")
    assert not node["spec"].get("unschedulable")


def test_simulated_node_keeps_its_lease_and_never_went_not_ready(cluster: Cluster) -> None:
    """Without a renewed Lease the node-lifecycle controller marks the Node NotReady every ~55 s and every Running
    Pod NotReady with it, for good: a helm `--wait` then times out (issue #11). The chart installs run before this
    test, so a flap during them shows here as a NodeNotReady event."""
    lease = cluster.check(cluster.kubectl("get", "lease", NODE_NAME, "-n", "kube-node-lease", "-o", "json"))
    spec = json.loads(lease)["spec"]
    assert spec["holderIdentity"], spec
    assert spec["leaseDurationSeconds"] == NODE_LEASE_SECONDS, spec
    renewed = datetime.fromisoformat(spec["renewTime"])
    assert datetime.now(UTC) - renewed < timedelta(seconds=NODE_LEASE_SECONDS), f"the lease ran out: {spec}"
    flaps = cluster.check(
        cluster.kubectl(
            "get", "events", "-A", "--field-selector=involvedObject.kind=Node,reason=NodeNotReady", "-o", "name"
        )
    )
    assert flaps.strip() == "", cluster.describe()


def test_a_failed_wait_is_explained(cluster: Cluster) -> None:
    """What the chart and role tests print when helm's `--wait` fails: the Node's conditions and events, its Lease,
    every Pod's conditions, the components' logs."""
    described = cluster.describe("kube-node-lease")
    for section in ("node conditions and taints", "leases", "pod conditions", "node events", "kube-controller-manager"):
        assert f"--- {section}\n" in described, described
    assert f"{NODE_NAME} taints= Ready=True@" in described, described
    assert re.search(rf"^kube-node-lease +{NODE_NAME} +\S+ +\S+$", described, re.MULTILINE), described
    assert '"Syncing lease"' not in described, described


def test_service_addresses_do_not_leave_the_namespace(cluster: Cluster) -> None:
    """What the API server would dial for a webhook: refused at once, not routed off the machine."""
    probe = "import socket; socket.create_connection(('10.96.0.1', 443), timeout=5)"
    result = cluster.run(sys.executable, "-c", probe, timeout=30)
    assert result.returncode != 0
    assert "Network is unreachable" in result.stderr, result.stderr[-500:]
