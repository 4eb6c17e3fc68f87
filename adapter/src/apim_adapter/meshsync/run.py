"""`apim-adapter mesh-sync --config FILE`: the loop that keeps Istio routing in step with APIM.

APIs come from the same internal data API, credentials and event hub as the adapter's `wso2` control plane:
a full pull (`/apis?gatewayLabel=` and every runtime artifact of the label, one zip) at start, on every
(re)connection to the event hub and every `meshSync.resyncSeconds`; an API event (`DEPLOY_API_IN_GATEWAY`,
`REMOVE_API_FROM_GATEWAY`, `API_UPDATE`, `API_LIFECYCLE_CHANGE`, `API_DELETE`) re-pulls the one API it names.
Only the replica holding the Lease writes; a watch on our own objects re-converges them at once when someone
edits or deletes one by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
import uuid as uuidlib
from collections.abc import Callable
from typing import Any

from lightkube import ApiError, AsyncClient
from prometheus_client import start_http_server

from .. import metrics
from ..config import Config, ControlPlaneWso2, MeshSync
from ..controlplane import artifacts as runtime_artifacts
from ..controlplane.data_api import ControlPlaneError, InternalDataApi
from ..controlplane.eventhub import EventHubListener, connection_parameters
from ..controlplane.events import Event
from ..controlplane.wso2 import HEARTBEAT
from ..secrets import read_secret
from . import artifacts, health, kube
from .core import ROUTE_KINDS, Endpoint, Plan, Settings, plan, route_conditions
from .export import Settings as ExportSettings
from .publisher import Publisher, export_environment
from .services import Exporter

log = logging.getLogger(__name__)

API_EVENTS = frozenset({"DEPLOY_API_IN_GATEWAY", "REMOVE_API_FROM_GATEWAY", "API_UPDATE", "API_LIFECYCLE_CHANGE",
                        "LIFECYCLE_CHANGE", "API_DELETE", "API_CREATE"})  # fmt: skip
RECONVERGE = ""  # queue item: our objects changed in Kubernetes; APIM did not


class ApimSource:
    """APIs and their production endpoints, through the wso2 control plane's internal data API client."""

    def __init__(self, api: InternalDataApi, label: str):
        self.api, self.label = api, label

    async def apis(self, api_id: str | None = None) -> list[dict[str, Any]]:
        return await self.api.items("apis", gatewayLabel=self.label, apiId=api_id)

    async def endpoints(self, api_id: str | None = None) -> dict[str, Endpoint]:
        body = await runtime_artifacts.fetch(self.api, self.label, api_id)
        if body is None:
            return {}
        try:
            return artifacts.endpoints(body, self.label)
        except artifacts.BadArtifact as exc:
            raise ControlPlaneError(f"GET runtime-artifacts: {exc}") from None
        finally:
            del body  # decrypted endpoint credentials: not kept beyond reading the endpoints


class Reconciler:
    def __init__(
        self,
        mesh: MeshSync,
        source: ApimSource,
        client: AsyncClient,
        election: kube.LeaderElection,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.mesh, self.source, self.client, self.election = mesh, source, client, election
        self.settings = Settings(
            mesh.namespace, mesh.gateways, mesh.hosts, mesh.cluster_domain, mesh.traffic_policy, mesh.route_kind
        )
        self.monotonic = monotonic
        self.apis: dict[str, dict[str, Any]] | None = None
        self.endpoints: dict[str, Endpoint] = {}
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()  # None: full pull; uuid: one API
        self.leader_until = 0.0  # monotonic time up to which our last renewal holds
        # Leadership as `lead` last acted on it (logged, hooks run). Not `leader` read again at its next turn: a
        # lease that lapsed in between (the process stalled, or renewals failed) must still be handed over.
        self.leading = False
        self.reported: set[tuple[str, str]] = set()
        self.reported_refusals: set[tuple[str, ...]] = set()
        self.last_plan: Plan | None = None
        self.on_lead: list[Callable[[], None]] = []  # called when this replica starts leading
        self.on_standby: list[Callable[[], None]] = []  # ... and when it stops

    @property
    def leader(self) -> bool:
        return self.monotonic() < self.leader_until

    # -- APIM ---------------------------------------------------------------------------------------------

    async def pull(self, items: list[str | None]) -> None:
        if None in items or self.apis is None:
            apis, endpoints = await asyncio.gather(self.source.apis(), self.source.endpoints())
            self.apis, self.endpoints = {str(a.get("uuid")): a for a in apis}, endpoints
            return
        for api_id in dict.fromkeys(i for i in items if i):
            apis, endpoints = await asyncio.gather(self.source.apis(api_id), self.source.endpoints(api_id))
            found = [a for a in apis if a.get("uuid") == api_id]
            if found:
                self.apis[api_id] = found[0]
            else:
                self.apis.pop(api_id, None)
            if api_id in endpoints:
                self.endpoints[api_id] = endpoints[api_id]
            else:
                self.endpoints.pop(api_id, None)

    def on_event(self, event: Event) -> None:
        """The event hub listener's callback (on the event loop): queue the API the event names."""
        if event.type not in API_EVENTS:
            return
        api_id = event.data.get("uuid") or event.data.get("apiId")
        self.queue.put_nowait(api_id if isinstance(api_id, str) and api_id else None)

    def request_resync(self) -> None:
        """On every (re)connection to the event hub: events may have been missed, pull everything."""
        self.queue.put_nowait(None)

    # -- Kubernetes ---------------------------------------------------------------------------------------

    async def converge(self) -> None:
        if self.apis is None or not self.leader:
            return
        desired = plan(self.apis.values(), self.endpoints, self.settings)
        other_kinds = ROUTE_KINDS - {self.mesh.route_kind}
        try:
            result = await kube.converge(self.client, self.mesh.namespace, desired.objects, other_kinds,
                                         lambda: self.leader)  # fmt: skip
        except kube.NotLeading as exc:
            log.info("converging stopped: no longer leading", extra={"detail": str(exc)})
            return
        problems = {(p.api_id, p.reason): p for p in desired.problems}
        for key in problems.keys() - self.reported:
            p = problems[key]
            log.warning("API not routed", extra={"api": p.name, "version": p.version, "api_id": p.api_id,
                                                 "reason": p.reason})  # fmt: skip
        self.reported = set(problems)
        for conflict in result.conflicts:
            log.warning("object not written: it exists and is not ours", extra={"object": conflict})
        refused = route_conditions(result.routes)
        refusals = {(r["route"], r["gateway"], r["condition"], r["reason"]): r for r in refused}
        for refusal in refusals.keys() - self.reported_refusals:
            fields = {("detail" if k == "message" else k): v for k, v in refusals[refusal].items()}  # LogRecord's
            log.warning("route refused by the gateway controller", extra=fields)
        self.reported_refusals = set(refusals)
        status = {"routed": sorted(desired.routed), "unrouted": [p.as_dict() for p in desired.problems],
                  "conflicts": list(result.conflicts), "refused": refused}  # fmt: skip
        if not self.leader:
            return  # the lease lapsed since (a stall): the status and the findings are the new leader's
        metrics.MESH_SYNC_APIS_ROUTED.set(len(desired.routed))
        metrics.MESH_SYNC_APIS_UNROUTED.set(len(problems))
        metrics.MESH_SYNC_CONFLICTS.set(len(result.conflicts))
        metrics.MESH_SYNC_ROUTES_REFUSED.set(len(refused))
        await kube.write_status(self.client, self.mesh.namespace, f"{self.mesh.lease_name}-status", status)
        metrics.MESH_SYNC_LAST_CONVERGED.set_to_current_time()
        self.last_plan = desired

    # -- the loops ----------------------------------------------------------------------------------------

    async def lead(self) -> None:
        """Acquire or renew the lease every third of its duration; a replica that cannot renew stops writing
        when its last renewal runs out, before another replica may take over."""
        period = self.mesh.lease_duration_seconds / 3
        while True:
            started = self.monotonic()
            try:
                held = await self.election.acquire_or_renew()
            except Exception as exc:  # the API server away: keep what we hold until it ends
                metrics.MESH_SYNC_FAILURES.labels("lease").inc()
                log.warning("lease not renewed", extra={"error": str(exc) or type(exc).__name__})
                held = None
            if held:
                self.leader_until = started + self.mesh.lease_duration_seconds * 2 / 3
            elif held is False:
                self.leader_until = 0.0
            leader, was = self.leader, self.leading
            self.leading = leader
            metrics.MESH_SYNC_LEADER.set(1 if leader else 0)
            if leader and not was:
                log.info("leading: converging APIM's APIs into the mesh", extra={"identity": self.election.identity})
                await self.queue.put(None)
                for hook in self.on_lead:
                    hook()
            elif was and not leader:
                log.info("no longer leading", extra={"identity": self.election.identity})
                self.last_plan = None
                for gauge in metrics.MESH_SYNC_LEADERS_FINDINGS:
                    gauge.set(0)
                for hook in self.on_standby:
                    hook()
            await asyncio.sleep(period)

    async def watch_ours(self) -> None:
        """Someone edited or deleted one of our objects: converge again (no APIM pull)."""
        selector = {kube.LABEL_MANAGED_BY: kube.MANAGED_BY}
        while True:
            try:
                kinds = (self.mesh.route_kind, "DestinationRule")  # not a kind whose CRDs may be missing
                watches = [self._watch(kube.KINDS[kind], selector) for kind in kinds]
                await asyncio.gather(*watches)
            except Exception as exc:  # a watch ends on API server restarts and timeouts: start again
                log.debug("watch ended", extra={"error": str(exc) or type(exc).__name__})
            await asyncio.sleep(1)

    async def _watch(self, resource: Any, selector: dict[str, Any]) -> None:
        async for _op, _obj in self.client.watch(resource, namespace=self.mesh.namespace, labels=selector):
            if self.leader and self.apis is not None:
                await self.queue.put(RECONVERGE)

    async def sync(self) -> None:
        backoff, next_full = 0.5, self.monotonic() + self.mesh.resync_seconds
        while True:
            try:
                item = await asyncio.wait_for(self.queue.get(), max(0.0, next_full - self.monotonic()))
            except TimeoutError:
                item = None
            batch = [item]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                if any(i != RECONVERGE for i in batch) and self.leader:
                    await self.pull(batch)
                    if None in batch:
                        next_full = self.monotonic() + self.mesh.resync_seconds
                await self.converge()
                backoff = 0.5
            except ControlPlaneError as exc:
                metrics.MESH_SYNC_FAILURES.labels("apim").inc()
                log.error("APIM pull failed; routes left as they are", extra={"error": str(exc), "retry_in": backoff})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                await self.queue.put(None)
            except (ApiError, Exception) as exc:  # the API server refused or is away: retry
                metrics.MESH_SYNC_FAILURES.labels("kubernetes").inc()
                log.error("converging failed", extra={"error": str(exc) or type(exc).__name__, "retry_in": backoff})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                await self.queue.put(RECONVERGE)


async def _main(config: Config) -> int:
    mesh, cp = config.mesh_sync, config.control_plane
    assert mesh is not None
    assert isinstance(cp, ControlPlaneWso2)
    api = InternalDataApi(cp, config)
    client = kube.client(config)
    identity = f"{socket.gethostname()}_{uuidlib.uuid4()}"
    election = kube.LeaderElection(client, mesh.namespace, mesh.lease_name, identity, mesh.lease_duration_seconds)
    reconciler = Reconciler(mesh, ApimSource(api, cp.gateway_label or "Default"), client, election)
    tasks = [reconciler.lead(), reconciler.sync(), reconciler.watch_ours()]
    exporter = _exporter(config, client, reconciler, identity) if mesh.export_services.enabled else None
    if exporter is not None:
        reconciler.on_lead.append(exporter.request)
        reconciler.on_standby.append(exporter.lost_leadership)
        tasks += [exporter.run(), exporter.watch()]
    if mesh.health_port:
        tasks.append(health.serve(mesh.health_port, lambda: _ready(reconciler, exporter)))
    hub = cp.event_hub
    if hub is not None:
        ca = str(config.resolve(cp.ca_bundle)) if cp.ca_bundle else None
        user = read_secret(str(config.resolve(hub.username_file))) if hub.username_file else None
        password = read_secret(str(config.resolve(hub.password_file))) if hub.password_file else None
        parameters = connection_parameters(hub.url, user, password, ca, cp.timeout_seconds, HEARTBEAT)
        listener = EventHubListener(
            parameters, reconciler.on_event, reconciler.request_resync, timeout=cp.timeout_seconds
        )
        tasks.append(listener.run())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = [asyncio.ensure_future(t) for t in tasks]
    log.info("mesh-sync started", extra={"identity": identity, "namespace": mesh.namespace})
    await asyncio.wait([*running, asyncio.ensure_future(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    if reconciler.leader:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(election.release(), 5)
    await api.close()
    if exporter is not None:
        await exporter.publisher.close()
        await exporter.close()
    await client.close()
    return 0


def _ready(reconciler: Reconciler, exporter: Exporter | None) -> bool:
    """Ready as a standby replica, or as the leader once the routes (and the Services' APIs) have converged."""
    if not reconciler.leader:
        return True
    return reconciler.last_plan is not None and (exporter is None or exporter.synced)


def _exporter(config: Config, client: AsyncClient, reconciler: Reconciler, identity: str) -> Exporter:
    mesh, cp = config.mesh_sync, config.control_plane
    assert mesh is not None
    assert isinstance(cp, ControlPlaneWso2)
    export = mesh.export_services
    ca = str(config.resolve(cp.ca_bundle)) if cp.ca_bundle else None
    publisher = Publisher.from_config(config)
    settings = ExportSettings(
        environment=export_environment(config),
        vhost=export.vhost,
        cluster_domain=mesh.cluster_domain,
        tiers=export.tiers,
        visibility=export.visibility,
        on_removal=export.on_removal,
    )
    return Exporter(client, publisher, settings, export.namespaces, mesh.resync_seconds, export.max_revisions,
                    lambda: reconciler.leader, identity, ca)  # fmt: skip


def run(config: Config) -> int:
    if config.mesh_sync is None:
        raise SystemExit("apim-adapter mesh-sync: the config has no meshSync section")
    if config.control_plane.type != "wso2":
        raise SystemExit("apim-adapter mesh-sync: controlPlane.type must be wso2 (APIM's internal data API)")
    for noisy in ("httpx2", "httpcore2", "httpx", "httpcore"):  # one line per Kubernetes request otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if config.mesh_sync.metrics_port:
        start_http_server(config.mesh_sync.metrics_port, registry=metrics.mesh_sync_registry())
    return asyncio.run(_main(config))
