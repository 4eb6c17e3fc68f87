"""What the mesh-sync cluster tests share: entering the cluster's network namespace, waiting for what another
process does, running `apim-adapter mesh-sync` replicas, the chart's ServiceAccount and RBAC with a kubeconfig
holding only its token, the APIM double in the cluster's network, the config file and the APIs it lists."""

from __future__ import annotations

import copy
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from chart_helpers import render  # tests/charts, put on sys.path by conftest.py

from harness.apim_double import ApimDouble, sample_data
from harness.helpers import VENV_BIN
from harness.kube import Cluster, NetworkNamespace
from harness.processes import Process, free_port
from harness.promql import Scrape, scrape

CLONE_NEWNET = 0x40000000
GATEWAY = "istio-system/istio-ingressgateway"
# The chart's values for the mesh-sync objects the tests render: they run mesh-sync with exactly its RBAC.
CHART_VALUES = {
    "config.controlPlane": {"type": "wso2", "url": "https://apim.example:9443"},
    "controlPlaneCredentials": {"username": "admin", "password": "not-a-secret"},
    "meshSync": {"enabled": True, "gateways": [GATEWAY]},
}


@contextmanager
def inside(netns: NetworkNamespace) -> Iterator[None]:
    """This thread (and the threads it starts) opens its sockets in the cluster's network namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/proc/{netns.holder.proc.pid}/ns/net", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into the cluster's network namespace")
        try:
            yield
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(own)
        os.close(target)


def wait_until(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (AssertionError, KeyError, ValueError) as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"{what} not seen within {timeout}s (last: {last!r})")


class Replicas:
    """mesh-sync processes sharing one config file, as the pods of one Deployment; each gets its own health and
    metrics ports (pods have a network namespace each, these processes share the cluster's)."""

    def __init__(self, cluster: Cluster, config: Path):
        self.cluster, self.config, self.started = cluster, config, 0
        self.running: dict[str, Process] = {}
        self.health_ports: dict[str, int] = {}
        self.metrics_ports: dict[str, int] = {}

    def start(self) -> str:
        self.started += 1
        name = f"mesh-sync-{self.started}"
        config = yaml.safe_load(self.config.read_text())
        config["meshSync"]["healthPort"] = self.health_ports[name] = free_port()
        config["meshSync"]["metricsPort"] = self.metrics_ports[name] = free_port()
        own = self.config.with_name(f"{self.config.stem}-{name}.yaml")  # beside it: relative paths still resolve
        own.write_text(yaml.safe_dump(config))
        argv = self.cluster.netns.argv(VENV_BIN / "apim-adapter", "mesh-sync", "--config", own)
        self.running[name] = Process(name, argv, self.config.parent / "logs")
        return name

    def stop(self, name: str) -> None:
        self.running.pop(name).stop()

    def kill(self, name: str) -> None:
        """A crash: SIGKILL, so the lease is not released and must run out."""
        process = self.running.pop(name)
        os.killpg(process.proc.pid, signal.SIGKILL)
        process.stop()

    def metrics(self, name: str) -> Scrape:
        """Replica `name`'s /metrics as Prometheus reads it: (sample name, labels) → value."""
        with inside(self.cluster.netns):
            return scrape(f"http://127.0.0.1:{self.metrics_ports[name]}")

    def leading(self) -> list[str]:
        return [name for name, p in self.running.items() if "no longer leading" not in p.log(100_000)
                and "leading: converging" in p.log(100_000)]  # fmt: skip

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{p.log(3000)}" for n, p in self.running.items())


def token_kubeconfig(cluster: Cluster, account: str, namespace: str, directory: Path) -> Path:
    """A kubeconfig holding only the token of `account` (in `namespace`): the admin's certificate gone, so the
    process using it has exactly the RBAC bound to that ServiceAccount."""
    token = cluster.check(cluster.kubectl("create", "token", account, "-n", namespace, "--duration=2h"))
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    admin["users"] = [{"name": account, "user": {"token": token.strip()}}]
    admin["contexts"][0]["context"]["user"] = account
    path = directory / "kubeconfig"
    path.write_text(yaml.safe_dump(admin))
    return path


@contextmanager
def replicas_of(cluster: Cluster, config: Path) -> Iterator[Replicas]:
    """One replica started; every replica still running stopped at the end."""
    started = Replicas(cluster, config)
    started.start()
    try:
        yield started
    finally:
        for name in list(started.running):
            started.stop(name)


def chart_service_account(cluster: Cluster, namespace: str, directory: Path, values: dict[str, Any]) -> Path:
    """The chart's mesh-sync ServiceAccount, Roles and RoleBindings (rendered with `values`, the routes in
    `namespace`) applied with their namespaces; a kubeconfig holding only its token."""
    objects = [o for o in render("apim-adapter", values=values, namespace=namespace)
               if "-mesh-sync" in o["metadata"]["name"]]  # fmt: skip
    rbac = [o for o in objects if o["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
    namespaces = {namespace, *(o["metadata"]["namespace"] for o in rbac)}
    cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in sorted(namespaces)])
    cluster.apply(rbac)
    [account] = [o["metadata"]["name"] for o in rbac if o["kind"] == "ServiceAccount"]
    return token_kubeconfig(cluster, account, namespace, directory)


@contextmanager
def apim_in(cluster: Cluster, data: dict[str, Any] | None = None, apis: list[dict[str, Any]] | None = None
            ) -> Iterator[ApimDouble]:  # fmt: skip
    """The APIM double serving `data` (default: the sample catalog), its APIs replaced by `apis` when given,
    listening in the cluster's network namespace."""
    data = sample_data() if data is None else data
    if apis is not None:
        data["apis"] = apis
    with inside(cluster.netns):
        double = ApimDouble(data).start()
    try:
        yield double
    finally:
        double.stop()


def published_api(uuid: str, version: str, backend: str, default: bool, status: str = "PUBLISHED") -> dict[str, Any]:
    """The sample catalog's API as version `version` at `/httpbin/<version>`, deployed with one production
    endpoint `backend`."""
    api = copy.deepcopy(sample_data()["apis"][0])
    api.update(uuid=uuid, version=version, context=f"/httpbin/{version}", isDefaultVersion=default, status=status,
               _revision=f"rev-{uuid}", _endpointConfig={"endpoint_type": "http",
                                                         "production_endpoints": {"url": backend}})  # fmt: skip
    return api


def probe(cluster: Cluster, config: Path) -> subprocess.CompletedProcess[str]:
    """`apim-adapter probe --mesh-sync` run as in mesh-sync's pod: in the cluster's network, with its config."""
    argv = cluster.netns.argv(VENV_BIN / "apim-adapter", "probe", "--mesh-sync", "--config", config)
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def write_config(kubeconfig: Path, apim: ApimDouble, **mesh: Any) -> Path:
    """mesh-sync's config file beside `kubeconfig`: the wso2 control plane on the double with its admin's
    credentials, `meshSync` with a one-second resync, a three-second lease and no metrics or health port (each of
    `Replicas` gets its own), plus `mesh`."""
    directory = kubeconfig.parent
    user, password = apim.admin_credentials
    (directory / "user").write_text(user + "\n")
    (directory / "password").write_text(password + "\n")
    config = {
        "keyManagers": [{"name": "unused", "issuer": "https://unused", "jwksUri": "https://unused/jwks"}],
        "controlPlane": {"type": "wso2", "url": apim.url, "usernameFile": "user", "passwordFile": "password",
                         "gatewayLabel": "Default"},
        "meshSync": {"gateways": [GATEWAY], "hosts": ["api.example.com"], "resyncSeconds": 1,
                     "leaseDurationSeconds": 3, "kubeconfig": kubeconfig.name, "metricsPort": 0, **mesh},
    }  # fmt: skip
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
