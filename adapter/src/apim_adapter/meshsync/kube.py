"""mesh-sync's side of the Kubernetes API, through lightkube: the owned objects converged by server-side apply,
the leader Lease, the status ConfigMap.

- Ours are the objects labelled `app.kubernetes.io/managed-by: apim-mesh-sync` in the configured namespace;
  every other object is left alone, even one that has the name we want (that is reported as a conflict).
- Applied with the field manager `apim-mesh-sync` and `force`: a field we own that someone edited by hand is
  taken back; fields added by others stay theirs. Ours that are no longer desired are deleted.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.core.resource import api_info
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.authorization_v1 import ResourceAttributes, SelfSubjectAccessReviewSpec
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.authorization_v1 import SelfSubjectAccessReview
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import ConfigMap

from ..config import Config
from .core import ANNOTATION_APIS, GATEWAY_API, LABEL_MANAGED_BY, MANAGED_BY

FIELD_MANAGER = MANAGED_BY
VirtualService = create_namespaced_resource("networking.istio.io", "v1", "VirtualService", "virtualservices")
DestinationRule = create_namespaced_resource("networking.istio.io", "v1", "DestinationRule", "destinationrules")
HTTPRoute = create_namespaced_resource(GATEWAY_API, "v1", "HTTPRoute", "httproutes")
KINDS = {"VirtualService": VirtualService, "DestinationRule": DestinationRule, "HTTPRoute": HTTPRoute}
# What to do when the API server does not serve a kind we write (its CRDs not installed).
_INSTALL = {
    "VirtualService": "install Istio's CRDs",
    "DestinationRule": "install Istio's CRDs",
    "HTTPRoute": "install Gateway API's standard CRDs, or set meshSync.routeKind: VirtualService",
}

# What mesh-sync does in meshSync.namespace (PERMISSIONS) and, with exportServices, in each exported namespace
# (EXPORT_PERMISSIONS): the chart's Roles grant exactly these (tests/charts), and `apim-adapter probe --mesh-sync`
# asks the API server whether mesh-sync's identity may do each. Both route kinds: after a switch of
# meshSync.routeKind it deletes its routes of the other.
WRITES = ("get", "list", "watch", "create", "patch", "delete")
PERMISSIONS = (
    ("networking.istio.io", "virtualservices", WRITES),
    ("networking.istio.io", "destinationrules", WRITES),
    (GATEWAY_API, "httproutes", WRITES),
    ("coordination.k8s.io", "leases", ("get", "create", "update")),
    ("", "configmaps", ("get", "create", "patch")),
)
EXPORT_PERMISSIONS = (
    ("", "services", ("get", "list", "watch")),
    ("", "configmaps", ("get",)),
    ("", "events", ("create", "patch")),
)
Permissions = Sequence[tuple[str, str, Sequence[str]]]

log = logging.getLogger(__name__)


def client(config: Config) -> AsyncClient:
    """mesh-sync's client of the API server: meshSync.kubeconfig, or the pod's ServiceAccount (in-cluster), then
    ~/.kube/config."""
    named = config.mesh_sync.kubeconfig if config.mesh_sync else None
    kubeconfig = KubeConfig.from_file(str(config.resolve(named))) if named else KubeConfig.from_env()
    return AsyncClient(kubeconfig, field_manager=FIELD_MANAGER)


async def denied(client: AsyncClient, namespace: str | None, permissions: Permissions) -> list[str]:
    """Each `verb resource.group` of `permissions` the API server says this client's identity may not do in
    `namespace` (None: in every namespace), asked as `kubectl auth can-i` asks (SelfSubjectAccessReview)."""
    asked = [(verb, group, resource) for group, resource, verbs in permissions for verb in verbs]
    answers = await asyncio.gather(*(client.create(_review(namespace, *question)) for question in asked))
    return [
        f"{verb} {resource}" + (f".{group}" if group else "")
        for (verb, group, resource), answer in zip(asked, answers, strict=True)
        if not (answer.status and answer.status.allowed)
    ]


def _review(namespace: str | None, verb: str, group: str, resource: str) -> SelfSubjectAccessReview:
    attributes = ResourceAttributes(namespace=namespace, verb=verb, group=group, resource=resource)
    return SelfSubjectAccessReview(spec=SelfSubjectAccessReviewSpec(resourceAttributes=attributes))


class NotLeading(RuntimeError):
    """This replica stopped leading while it converged: the writes left are the new leader's."""


class NotServed(RuntimeError):
    """The API server does not serve a kind mesh-sync writes."""

    @classmethod
    def of(cls, kind: str) -> NotServed:
        info = api_info(KINDS[kind]).resource
        hint = _INSTALL.get(kind, "install its CRD")
        return cls(f"the API server does not serve {kind} ({info.group}/{info.version}): {hint}")


async def served(client: AsyncClient, namespace: str, kind: str) -> None:
    """Raise NotServed where the API server does not serve `kind` (its CRDs not installed): a list of one page."""
    try:
        async for _ in client.list(KINDS[kind], namespace=namespace, chunk_size=1):
            break
    except Exception as exc:
        if _http_status(exc) == 404:
            raise NotServed.of(kind) from None
        raise


@dataclass
class Converged:
    applied: int = 0
    deleted: int = 0
    conflicts: tuple[str, ...] = ()  # "Kind/name" held by someone else
    # Our HTTPRoutes as listed before applying: name, generation, the APIs they route and the status the
    # gateway controller wrote (core.route_conditions reads it).
    routes: tuple[dict[str, Any], ...] = ()


def _ours(obj: Any) -> bool:
    labels = (obj.metadata.labels if obj.metadata else None) or {}
    return labels.get(LABEL_MANAGED_BY) == MANAGED_BY


def _http_status(exc: Exception) -> int | None:
    """The HTTP status of a refusal by the API server. lightkube raises ApiError when the body is a Status, and
    its HTTP client's HTTPStatusError (ApiError's base) when it is not: a kind no CRD defines is answered with a
    plain-text `404 page not found`."""
    return getattr(getattr(exc, "response", None), "status_code", None)


async def converge(
    client: AsyncClient,
    namespace: str,
    objects: Sequence[Mapping[str, Any]],
    other_kinds: Collection[str] = (),
    leading: Callable[[], bool] = lambda: True,
) -> Converged:
    """Make the namespace's objects of our kinds what `objects` says, touching only ours. `other_kinds` are kinds
    we no longer write (the other route kind: VirtualServices after a switch to HTTPRoutes, or back): ours of them
    are deleted where the cluster serves the kind and our Role grants it, and skipped where it does not (Gateway
    API's CRDs not installed: 404; a Role from before HTTPRoutes: 403). `leading` is asked before each write:
    NotLeading once it says no, so a replica whose lease lapsed mid-pass does not write over the new leader's."""
    out, conflicts, routes = Converged(), [], []
    desired = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    for kind, resource in KINDS.items():
        try:
            listed = [existing async for existing in client.list(resource, namespace=namespace)]
        except Exception as exc:
            status = _http_status(exc)
            if status in (403, 404) and kind in other_kinds:
                log.debug("kind not listed", extra={"kind": kind, "status": status})
                continue
            if status == 404:
                raise NotServed.of(kind) from None
            raise
        for existing in listed:
            name = existing.metadata.name if existing.metadata else None
            if name is None:
                continue
            key = (kind, name)
            if not _ours(existing):
                if key in desired:
                    conflicts.append(f"{kind}/{key[1]}")
                    del desired[key]
                continue
            if key not in desired:
                if not leading():
                    raise NotLeading(f"stopped before deleting {kind}/{name}")
                try:
                    await client.delete(resource, name, namespace=namespace)
                except ApiError as exc:
                    if exc.status.code != 404:
                        raise
                out.deleted += 1
                log.info("route removed", extra={"kind": kind, "object": key[1]})
            elif kind == "HTTPRoute":
                meta = existing.metadata
                apis = ((meta.annotations if meta else None) or {}).get(ANNOTATION_APIS, "")
                generation = meta.generation if meta else None
                routes.append({"name": name, "generation": generation, "apis": apis, "status": existing.status or {}})
    for (kind, name), obj in desired.items():
        if not leading():
            raise NotLeading(f"stopped before applying {kind}/{name}")
        await client.apply(KINDS[kind].from_dict(dict(obj)), field_manager=FIELD_MANAGER, force=True)
        out.applied += 1
    out.conflicts, out.routes = tuple(conflicts), tuple(routes)
    return out


async def write_status(client: AsyncClient, namespace: str, name: str, status: Mapping[str, Any]) -> None:
    """The APIs not routed and why, where `kubectl get configmap NAME -o yaml` shows them."""
    body = ConfigMap(
        metadata=ObjectMeta(name=name, namespace=namespace, labels={LABEL_MANAGED_BY: MANAGED_BY}),
        data={"status.json": json.dumps(status, indent=1, sort_keys=True)},
    )
    await client.apply(body, field_manager=FIELD_MANAGER, force=True)


class LeaderElection:
    """A coordination.k8s.io Lease, as client-go's leaderelection uses it: the holder renews `renewTime`; another
    replica takes it over only once `renewTime + leaseDurationSeconds` has passed. Every update carries the
    resourceVersion read, so two replicas racing for an expired lease cannot both win (409 for the loser)."""

    def __init__(
        self,
        client: AsyncClient,
        namespace: str,
        name: str,
        identity: str,
        duration_seconds: int = 15,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ):
        self.client, self.namespace, self.name, self.identity = client, namespace, name, identity
        self.duration = duration_seconds
        self.clock = clock

    async def acquire_or_renew(self) -> bool:
        """True while this replica holds the lease (just acquired or renewed)."""
        now = self.clock()
        try:
            lease = await self.client.get(Lease, self.name, namespace=self.namespace)
        except ApiError as exc:
            if exc.status.code != 404:
                raise
            return await self._create(now)
        spec = lease.spec or LeaseSpec()
        held = spec.holderIdentity and spec.holderIdentity != self.identity
        if held and spec.renewTime is not None:
            expires = spec.renewTime + datetime.timedelta(seconds=spec.leaseDurationSeconds or self.duration)
            if expires > now:
                return False
        if spec.holderIdentity != self.identity:
            spec.acquireTime = now
            spec.leaseTransitions = (spec.leaseTransitions or 0) + (1 if spec.holderIdentity else 0)
        spec.holderIdentity, spec.renewTime, spec.leaseDurationSeconds = self.identity, now, self.duration
        lease.spec = spec
        try:
            await self.client.replace(lease)
        except ApiError as exc:
            if exc.status.code == 409:  # someone else wrote it since we read it
                return False
            raise
        return True

    async def _create(self, now: datetime.datetime) -> bool:
        spec = LeaseSpec(holderIdentity=self.identity, leaseDurationSeconds=self.duration, acquireTime=now,
                         renewTime=now, leaseTransitions=0)  # fmt: skip
        try:
            await self.client.create(Lease(metadata=ObjectMeta(name=self.name, namespace=self.namespace), spec=spec))
        except ApiError as exc:
            if exc.status.code == 409:
                return False
            raise
        return True

    async def release(self) -> None:
        """On shutdown: clear the holder so that another replica takes over at once."""
        try:
            lease = await self.client.get(Lease, self.name, namespace=self.namespace)
            if lease.spec and lease.spec.holderIdentity == self.identity:
                lease.spec.holderIdentity, lease.spec.renewTime = None, None
                await self.client.replace(lease)
        except ApiError as exc:
            log.warning("lease not released", extra={"error": str(exc)})
