"""A real Kubernetes control plane for tests: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and a
kwok node, built by `make setup` (scripts/kube/build.sh) and run in a private network namespace.

The namespace has only loopback up: the API server dials Service ClusterIPs for webhooks and aggregated APIs, and
there such dials fail at once instead of leaving the machine; its fixed ports cannot collide with anything else
on the machine either. Clients (kubectl, helm, ansible-playbook) run inside it through `nsenter`, as does the
readiness check. kwok turns the Node and its Pods Ready as the kubelet would report them, without containers:
what this proves is the API-level flow (validation, defaulting, admission, RBAC, server-side apply, Helm
ownership and `--wait`), not the data plane.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import yaml

from .certificates import CertificateAuthority, Credential, private_key, write_key
from .helpers import ROOT, VENV_BIN
from .processes import Process

TOOLS_BIN = ROOT / ".tools" / "bin"
KWOK_STAGES = ROOT / ".tools" / "share" / "kube" / "kwok-stages.yaml"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")
API_SERVER = "https://127.0.0.1:6443"
SERVICE_CIDR = "10.96.0.0/16"
NODE_NAME = "kwok-node"
# kwok manages only the Nodes carrying this annotation (its --manage-nodes-with-annotation-selector).
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
# The Node's Lease duration kwok renews (every quarter of it), as a kubelet's --node-lease-duration-seconds.
NODE_LEASE_SECONDS = 40


def missing_binaries() -> list[str]:
    paths = [TOOLS_BIN / name for name in BINARIES] + [KWOK_STAGES]
    return [str(path.relative_to(ROOT)) for path in paths if not path.exists()]


def write_kubeconfig(path: Path, user: str, ca: Path, credential: Credential) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "kube-ci", "cluster": {"server": API_SERVER, "certificate-authority": str(ca)}}],
                "users": [
                    {
                        "name": user,
                        "user": {"client-certificate": str(credential.cert), "client-key": str(credential.key)},
                    }
                ],
                "contexts": [{"name": "kube-ci", "context": {"cluster": "kube-ci", "user": user}}],
                "current-context": "kube-ci",
            }
        )
    )
    path.chmod(0o600)
    return path


# --- the network namespace -------------------------------------------------------------------------------------


class NetworkNamespace:
    """A network namespace with only `lo` up, held open by a sleeping process; commands enter it by its pid.

    As root it is a plain `unshare --net`; otherwise it lives in a user namespace where this user is root, which
    the kernel allows when unprivileged user namespaces are enabled.
    """

    def __init__(self, log_dir: Path):
        self.user_namespace = os.geteuid() != 0
        unshare = ["unshare", "--net"] + (["--user", "--map-root-user"] if self.user_namespace else [])
        # unshare and sh exec, so the holder's pid stays the one whose namespace we enter.
        self.holder = Process(
            "netns", [*unshare, "--", "sh", "-c", "ip link set lo up && echo up && exec sleep infinity"], log_dir
        )
        deadline = time.monotonic() + 10
        while "up" not in self.holder.log():
            if not self.holder.alive or time.monotonic() > deadline:
                self.holder.stop()
                raise RuntimeError(
                    "could not create a network namespace with loopback up: `unshare --net` needs root, or "
                    "unprivileged user namespaces (Ubuntu 24.04 restricts them: "
                    f"`sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`):\n{self.holder.log()}"
                )
            time.sleep(0.05)

    def argv(self, *command: str | os.PathLike[str]) -> list[str]:
        pid = self.holder.proc.pid
        user = [f"--user=/proc/{pid}/ns/user", "--preserve-credentials"] if self.user_namespace else []
        return ["nsenter", f"--net=/proc/{pid}/ns/net", *user, "--", *map(str, command)]

    def stop(self) -> None:
        self.holder.stop()


# --- the control plane -----------------------------------------------------------------------------------------


class Cluster:
    """A started control plane: run clients inside its network namespace with `run`, `kubectl`, `apply`."""

    def __init__(self, directory: Path, netns: NetworkNamespace, kubeconfig: Path):
        self.directory, self.netns, self.kubeconfig = directory, netns, kubeconfig
        self.processes: list[Process] = []

    @property
    def env(self) -> dict[str, str]:
        """The environment clients get: the pinned tools first on PATH, the admin kubeconfig."""
        path = os.pathsep.join([str(TOOLS_BIN), str(VENV_BIN), os.environ.get("PATH", "")])
        return {
            **os.environ,
            "PATH": path,
            "KUBECONFIG": str(self.kubeconfig),
            "K8S_AUTH_KUBECONFIG": str(self.kubeconfig),
            "HELM_CACHE_HOME": str(self.directory / "helm" / "cache"),
            "HELM_CONFIG_HOME": str(self.directory / "helm" / "config"),
            "HELM_DATA_HOME": str(self.directory / "helm" / "data"),
        }

    def run(
        self, *command: str | os.PathLike[str], input: str | None = None, env: dict[str, str] | None = None, timeout=600
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.netns.argv(*command),
            input=input,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            cwd=ROOT,
            timeout=timeout,
            check=False,
        )

    def kubectl(self, *args: str, input: str | None = None, timeout=120) -> subprocess.CompletedProcess[str]:
        return self.run(TOOLS_BIN / "kubectl", *args, input=input, timeout=timeout)

    def check(self, result: subprocess.CompletedProcess[str]) -> str:
        assert result.returncode == 0, (
            f"{result.args[3:]} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        return result.stdout

    def apply(self, documents: Sequence[dict], *flags: str) -> str:
        """Server-side apply, so that the API server validates and defaults every field we send."""
        if not documents:
            return ""
        text = yaml.safe_dump_all(documents)
        return self.check(
            self.kubectl("apply", "--server-side", "--field-manager=kube-ci", *flags, "-f", "-", input=text)
        )

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log(2000)}" for p in self.processes)

    def describe(self, namespace: str | None = None) -> str:
        """What the API server says about workloads, for a failed `--wait`: the Node, its Lease, the Deployments,
        ReplicaSets and Pods with each Pod's conditions, the latest events, and the tail of every component's log.
        `namespace` narrows the workloads and events to one namespace (all of them otherwise)."""
        scope = ["-n", namespace] if namespace else ["-A"]
        conditions = (
            "{range .items[*]}{.metadata.namespace}/{.metadata.name} node={.spec.nodeName} phase={.status.phase}"
            "{range .status.conditions[*]} {.type}={.status}@{.lastTransitionTime}{end}{'\\n'}{end}"
        )
        queries = {
            "nodes": ["get", "nodes", "-o", "wide"],
            "node conditions and taints": [
                "get",
                "nodes",
                "-o",
                "jsonpath={range .items[*]}{.metadata.name} taints={.spec.taints}"
                "{range .status.conditions[*]} {.type}={.status}@{.lastHeartbeatTime}{end}{'\\n'}{end}",
            ],
            "leases": [
                "get",
                "leases",
                "-A",
                "-o",
                "custom-columns=NAMESPACE:.metadata.namespace,"
                "NAME:.metadata.name,HOLDER:.spec.holderIdentity,RENEWED:.spec.renewTime",
            ],
            "workloads": ["get", "deployments,replicasets,pods", *scope, "-o", "wide"],
            "pod conditions": ["get", "pods", *scope, "-o", f"jsonpath={conditions}"],
            "events": ["get", "events", *scope, "--sort-by=.lastTimestamp"],
            # The Node's own events (NodeNotReady, NodeReady) live in the default namespace.
            "node events": ["get", "events", "-A", "--field-selector=involvedObject.kind=Node"],
        }
        sections = []
        for title, args in queries.items():
            # It runs inside a failure message: an API server that does not answer must not hide the failure.
            try:
                result = self.kubectl(*args, "--request-timeout=20s", timeout=30)
                sections.append(f"--- {title}\n{(result.stdout or result.stderr)[-6000:]}")
            except subprocess.TimeoutExpired:
                sections.append(f"--- {title}\n(no answer within 30 s)")
        for process in self.processes:
            # kwok logs each renewal of the node Lease (every 10 s): leave those out so its Pod patches show.
            lines = [line for line in process.log(50_000).splitlines() if '"Syncing lease"' not in line]
            sections.append(f"--- {process.name}\n" + "\n".join(lines)[-3000:])
        return "\n".join(sections)

    def _start(self, name: str, *argv: str | os.PathLike[str]) -> None:
        self.processes.append(Process(name, self.netns.argv(*argv), self.directory / "logs"))

    def _wait(self, what: str, *kubectl_args: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            dead = [p.name for p in self.processes if not p.alive]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}:\n{self.logs()}")
            result = self.kubectl(*kubectl_args, "--request-timeout=5s")
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not ready after {timeout}s: {result.stderr[-500:]}\n{self.logs()}")
            time.sleep(0.2)


def _certificates(directory: Path) -> dict[str, Path]:
    """The cluster's CA, serving and client certificates, the front proxy's and the service-account keys."""
    ca = CertificateAuthority(directory, "kube-ci-ca")
    front_proxy_ca = CertificateAuthority(directory, "kube-ci-front-proxy-ca")
    apiserver = ca.issue(
        "apiserver",
        "kube-apiserver",
        server_names=["localhost", "127.0.0.1", "10.96.0.1", "kubernetes", "kubernetes.default.svc"],
    )
    front_proxy = front_proxy_ca.issue("front-proxy-client", "front-proxy-client")
    write_key(directory / "sa.key", private_key(), public=directory / "sa.pub")
    kubeconfig = {
        user: write_kubeconfig(directory / f"{user}.kubeconfig", user, ca.credential.cert, ca.issue(user, cn, org))
        for user, cn, org in (
            ("admin", "kube-ci-admin", "system:masters"),
            ("controller-manager", "system:kube-controller-manager", None),
            ("scheduler", "system:kube-scheduler", None),
        )
    }
    return {
        "ca": ca.credential.cert,
        "ca_key": ca.credential.key,
        "apiserver": apiserver.cert,
        "apiserver_key": apiserver.key,
        "front_proxy_ca": front_proxy_ca.credential.cert,
        "front_proxy": front_proxy.cert,
        "front_proxy_key": front_proxy.key,
        "sa_key": directory / "sa.key",
        "sa_pub": directory / "sa.pub",
        **{f"{user}_kubeconfig": path for user, path in kubeconfig.items()},
    }


@contextmanager
def control_plane(directory: Path, start_timeout: float = 90) -> Iterator[Cluster]:
    """Starts the whole control plane in `directory` (certificates, etcd data, logs) and stops it afterwards."""
    missing = missing_binaries()
    if missing:
        raise FileNotFoundError(f"the Kubernetes control plane is not built ({', '.join(missing)}): run `make setup`")
    pki = directory / "pki"
    pki.mkdir(parents=True, exist_ok=True)
    files = _certificates(pki)
    with ExitStack() as stack:
        netns = NetworkNamespace(directory / "logs")
        stack.callback(netns.stop)
        cluster = Cluster(directory, netns, files["admin_kubeconfig"])
        stack.callback(lambda: [p.stop() for p in reversed(cluster.processes)])
        cluster._start(
            "etcd",
            TOOLS_BIN / "etcd",
            f"--data-dir={directory / 'etcd'}",
            "--listen-client-urls=http://127.0.0.1:2379",
            "--advertise-client-urls=http://127.0.0.1:2379",
            "--listen-peer-urls=http://127.0.0.1:2380",
            "--initial-advertise-peer-urls=http://127.0.0.1:2380",
            "--initial-cluster=default=http://127.0.0.1:2380",
            # Throwaway data: fsync only slows a shared disk down.
            "--unsafe-no-fsync",
            "--log-level=warn",
        )
        cluster._start(
            "kube-apiserver",
            TOOLS_BIN / "kube-apiserver",
            "--etcd-servers=http://127.0.0.1:2379",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--secure-port=6443",
            # The Endpoints of `kubernetes` refuse a loopback address; nothing in the namespace routes to it anyway.
            "--endpoint-reconciler-type=none",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            f"--client-ca-file={files['ca']}",
            f"--tls-cert-file={files['apiserver']}",
            f"--tls-private-key-file={files['apiserver_key']}",
            f"--kubelet-client-certificate={files['apiserver']}",
            f"--kubelet-client-key={files['apiserver_key']}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={files['sa_pub']}",
            f"--service-account-signing-key-file={files['sa_key']}",
            # The front proxy's CA: without it the controller-manager and scheduler miss a CA bundle.
            f"--requestheader-client-ca-file={files['front_proxy_ca']}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={files['front_proxy']}",
            f"--proxy-client-key-file={files['front_proxy_key']}",
        )
        cluster._wait("kube-apiserver", "get", "--raw=/readyz", timeout=start_timeout)
        for component, kubeconfig, extra in (
            (
                "kube-controller-manager",
                files["controller-manager_kubeconfig"],
                [
                    "--use-service-account-credentials",
                    f"--service-account-private-key-file={files['sa_key']}",
                    f"--root-ca-file={files['ca']}",
                    f"--cluster-signing-cert-file={files['ca']}",
                    f"--cluster-signing-key-file={files['ca_key']}",
                    # No cloud, no node IPAM, no load balancers: the controllers that would only log errors.
                    "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
                ],
            ),
            ("kube-scheduler", files["scheduler_kubeconfig"], []),
        ):
            cluster._start(
                component,
                TOOLS_BIN / component,
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false",
                # Level 2 logs what a failed `--wait` needs explained: the node-lifecycle controller's view of the
                # Node's heartbeats, Pods it marks NotReady, the scheduler's bindings (a few hundred lines a run).
                "--v=2",
                "--bind-address=127.0.0.1",
                *extra,
            )
        cluster._start(
            "kwok",
            TOOLS_BIN / "kwok",
            f"--kubeconfig={files['admin_kubeconfig']}",
            # Stages only: a KwokConfiguration document in this file would replace kwok's defaults.
            f"--config={KWOK_STAGES}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={'='.join(KWOK_NODE_ANNOTATION)}",
            "--server-address=127.0.0.1:10247",
            # The Node's heartbeat, as a kubelet gives it: a Lease in kube-node-lease, renewed every 10 s (a quarter
            # of its duration). Without this flag kwok keeps no Lease, and the heartbeat-with-lease Stage refreshes
            # the Node's status only every 10 to 20 minutes: the node-lifecycle controller found no heartbeat within
            # its 50 s grace period and marked the Node NotReady every ~55 s (kwok's node-initialize Stage made it
            # Ready again at once), and on each flap set Ready=False on every Running Pod. No Stage turns such a Pod
            # Ready again (pod-ready acts on Pending Pods only), so the helm `--wait` of whichever chart had Pods
            # up at that moment ran into its 300 s timeout (issue #11).
            f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
        )
        cluster.apply([_node()])
        cluster._wait("the kwok node", "wait", "--for=condition=Ready", f"node/{NODE_NAME}", "--timeout=5s")
        cluster._wait("the default ServiceAccount", "get", "serviceaccount/default", "-n", "default")
        yield cluster


def _node() -> dict:
    key, value = KWOK_NODE_ANNOTATION
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": {key: value},
            "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "type": "kwok"},
        },
    }


def resident_memory_mib(cluster: Cluster) -> float:
    """Resident memory of the control plane's processes, from /proc."""
    total = 0
    for process in cluster.processes:
        status = Path(f"/proc/{process.proc.pid}/status")
        if process.alive and status.exists():
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024
