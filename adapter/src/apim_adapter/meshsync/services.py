"""Kubernetes → APIM: annotated Services become APIs (issue 13, point 2), inside `apim-adapter mesh-sync`.

The leader (the same Lease as the routes) makes one pass over every exposed Service at start, whenever a
Service changes (a watch) and every `resyncSeconds` (which also catches a changed OpenAPI ConfigMap: ConfigMaps
are read, not watched, so that the Role needs only `get` on them). A pass plans each Service with `export` and
runs the plan through the Publisher API; what fails is reported on the Service as a `Warning` Event
(`ExportFailed`) and in the log, what changed as a `Normal` Event (`Exported`, `Retired`). Events are created
once per distinct message: a failure repeated every pass is not an Event every pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from lightkube import ApiError, AsyncClient
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Event, Service

from .. import metrics
from ..http_client import HttpClient, read_at_most
from .export import (
    PROPERTY_OWNER,
    FromConfigMap,
    Invalid,
    Port,
    Settings,
    Spec,
    definition,
    owner,
    plan_export,
    plan_removal,
    spec,
    unwanted,
)
from .export import Service as ServiceInfo
from .publisher import Publisher, PublisherError

log = logging.getLogger(__name__)

COMPONENT = "apim-mesh-sync"
MAX_DOCUMENT_BYTES = 4 << 20


def service_info(obj: Any) -> ServiceInfo:
    meta, spec_ = obj.metadata, obj.spec
    ports = tuple(
        Port(p.name or "", int(p.port), p.appProtocol) for p in ((spec_.ports if spec_ else None) or []) if p.port
    )
    return ServiceInfo(str(meta.namespace), str(meta.name), dict(meta.annotations or {}), ports)


class Events:
    """core/v1 Events on Services, one per distinct (type, reason, message) and Service: the name is derived
    from them, so a repeat after a restart patches the count instead of adding an Event."""

    def __init__(self, client: AsyncClient, instance: str):
        self.client, self.instance = client, instance
        self.last: dict[str, tuple[str, str, str]] = {}
        self.counts: dict[str, int] = {}

    async def report(self, service: ServiceInfo, uid: str | None, kind: str, reason: str, message: str) -> None:
        if self.last.get(service.key) == (kind, reason, message):
            return
        (log.warning if kind == "Warning" else log.info)(message, extra={"service": service.key, "reason": reason})
        self.last[service.key] = (kind, reason, message)
        digest = hashlib.sha256(f"{kind}\0{reason}\0{message}".encode()).hexdigest()[:16]
        name = f"{service.name[:200]}.{digest}"
        now = datetime.datetime.now(datetime.UTC)
        count = self.counts[f"{service.namespace}/{name}"] = self.counts.get(f"{service.namespace}/{name}", 0) + 1
        event = Event(
            metadata=ObjectMeta(name=name, namespace=service.namespace),
            involvedObject=ObjectReference(
                apiVersion="v1", kind="Service", name=service.name, namespace=service.namespace, uid=uid
            ),
            reason=reason,
            message=message[:1024],
            type=kind,
            source=EventSource(component=COMPONENT),
            reportingComponent=COMPONENT,
            reportingInstance=self.instance[:128],
            firstTimestamp=now,
            lastTimestamp=now,
            count=count,
        )
        try:
            try:
                await self.client.create(event)
            except ApiError as exc:
                if exc.status.code != 409:
                    raise
                patch = {"count": max(count, 2), "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
                await self.client.patch(Event, name, patch, namespace=service.namespace)
        except ApiError as exc:  # an Event is a report: its loss must not stop the export
            log.warning("event not written", extra={"service": service.key, "error": str(exc)})


class Exporter:
    def __init__(
        self,
        client: AsyncClient,
        publisher: Publisher,
        settings: Settings,
        namespaces: Sequence[str],
        resync_seconds: float,
        max_revisions: int,
        leader: Callable[[], bool],
        instance: str,
        ca_bundle: str | None = None,
    ):
        self.client, self.publisher, self.settings = client, publisher, settings
        self.namespaces = tuple(namespaces) or ("*",)
        self.resync, self.max_revisions, self.leader = resync_seconds, max_revisions, leader
        self.events = Events(client, instance)
        self.http = HttpClient(ca_bundle, timeout=10.0)  # the OpenAPI document from a Service's own URL
        self.queue: asyncio.Queue[None] = asyncio.Queue()
        self.synced = False  # a full pass has succeeded since this replica last became leader
        self.owners: dict[str, str | None] = {}  # API id → its owner property, for lists that leave them out
        self._target: str | None = None  # this pass: None not asked yet, "" deployable, else why not

    def request(self) -> None:
        self.queue.put_nowait(None)

    def lost_leadership(self) -> None:
        self.synced = False

    async def close(self) -> None:
        await self.http.close()

    # -- reading Kubernetes ---------------------------------------------------------------------------------

    async def services(self) -> list[Any]:
        out = []
        for namespace in self.namespaces:
            out += [s async for s in self.client.list(Service, namespace=namespace)]
        return out

    def _watched(self, key: str) -> bool:
        return "*" in self.namespaces or key.split("/", 1)[0] in self.namespaces

    async def document(self, want: Spec, namespace: str) -> str | bytes:
        source = want.source
        if isinstance(source, FromConfigMap):
            try:
                cm = await self.client.get(ConfigMap, source.name, namespace=namespace)
            except ApiError as exc:
                if exc.status.code == 404:
                    raise Invalid(f"ConfigMap {namespace}/{source.name} (the OpenAPI document) not found") from None
                raise
            text = (cm.data or {}).get(source.key)
            if text is None:
                raise Invalid(f"ConfigMap {namespace}/{source.name} has no key {source.key!r}")
            return text
        try:
            async with self.http.session.get(source.url) as resp:
                if resp.status != 200:
                    raise Invalid(f"GET {source.url}: HTTP {resp.status}")
                return await read_at_most(resp.content, MAX_DOCUMENT_BYTES)
        except Invalid:
            raise
        except ValueError:  # read_at_most's limit
            raise Invalid(f"GET {source.url}: the OpenAPI document is larger than {MAX_DOCUMENT_BYTES} bytes") from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise Invalid(f"GET {source.url}: {exc or type(exc).__name__}") from None

    # -- one pass -------------------------------------------------------------------------------------------

    async def _with_owners(self, apis: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The listed APIs, each with its owner property. APIMappingUtil.fromAPIToInfoDTO copies an API's
        additional properties into the list only when the search result carries them, and APIM's Jackson writes
        the list's empty `additionalProperties` ([]) otherwise; so a listed API without an owner property is read
        itself, once (the owner never changes: it is set when we create the API)."""
        out = []
        for info in apis:
            api_id = str(info.get("id"))
            if owner(info) is None:
                if api_id not in self.owners:
                    self.owners[api_id] = owner(await self.publisher.api(api_id))
                known = self.owners[api_id]
                info = {**info, "additionalProperties": [{"name": PROPERTY_OWNER, "value": known}] if known else []}
            out.append(info)
        return out

    async def sync(self) -> None:
        """One pass: every exposed Service's API made what it declares, then ours that none declares retired.
        Leadership is asked again before each write to APIM: a replica that stopped leading mid-pass (its lease
        lapsed while it stalled) ends the pass there, and the new leader's pass does the rest."""
        services = await self.services()
        self._target = None
        apis = await self._with_owners(await self.publisher.apis())
        owned = [a for a in apis if owner(a) and self._watched(str(owner(a)))]
        exposing: dict[str, Spec] = {}
        failing: set[str] = set()
        by_key = {}
        for obj in services:
            info = service_info(obj)
            by_key[info.key] = (info, obj.metadata.uid)
            if not info.exposed:
                continue
            if not self.leader():
                return
            try:
                exposing[info.key] = await self._export(info, obj.metadata.uid, apis)
            except (Invalid, PublisherError) as exc:
                failing.add(info.key)
                await self.events.report(info, obj.metadata.uid, "Warning", "ExportFailed", str(exc))
        for api in unwanted(owned, exposing, failing):
            if not self.leader():
                return
            plan = plan_removal(api, self.settings)
            key = str(owner(api))
            try:
                await self.publisher.apply(plan, self.settings.environment, self.settings.vhost, self.max_revisions)
            except PublisherError as exc:
                log.warning("API not retired", extra={"service": key, "api": plan.label, "error": str(exc)})
                continue
            message = f"API {plan.label}: {', '.join(plan.changes) or 'left as it is'}"
            if key in by_key:
                await self.events.report(*by_key[key], "Normal", "Retired", message)
            else:
                log.info(message, extra={"service": key, "reason": "Retired"})
        if not self.leader():
            return  # the findings are the new leader's (see `lead` in run.py)
        metrics.MESH_SYNC_SERVICES_EXPORTED.set(len(exposing))
        metrics.MESH_SYNC_SERVICES_UNEXPORTED.set(len(failing))
        self.synced = True

    async def _export(self, info: ServiceInfo, uid: str | None, apis: list[dict[str, Any]]) -> Spec:
        want = spec(info, self.settings)
        text, digest = definition(await self.document(want, info.namespace))
        same = [a for a in apis if (a.get("name"), a.get("version")) == (want.name, want.version)]
        mine = [a for a in same if owner(a) == info.key]
        if same and not mine:
            holder = owner(same[0])
            by = f"exported from the Service {holder}" if holder else "not exported from a Service"
            raise Invalid(f"API {want.name} {want.version} exists in APIM, {by}: choose another {want.name!r} "
                          f"or version")  # fmt: skip
        api = await self.publisher.api(str(mine[0]["id"])) if mine else None
        deployed = await self.publisher.deployed_to(str(mine[0]["id"])) if mine else []
        plan = plan_export(want, text, digest, api, deployed, self.settings)
        if any(step.op == "revise" for step in plan.steps):
            await self._check_target()
        if plan.steps:
            api_id = await self.publisher.apply(plan, self.settings.environment, self.settings.vhost,
                                                self.max_revisions)  # fmt: skip
            self.owners[api_id] = info.key
            message = f"API {plan.label} ({api_id}): {', '.join(plan.changes)}"
            await self.events.report(info, uid, "Normal", "Exported", message)
        elif self.events.last.get(info.key, ("Normal",))[0] == "Warning":
            await self.events.report(info, uid, "Normal", "Exported", f"API {plan.label}: up to date")
        return want

    async def _check_target(self) -> None:
        """Before the pass's first revision, once: whether APIM's gateway environment has the vhost revisions are
        deployed on (Publisher.target). Where it does not, each Service's export fails with why, before any change:
        APIM would refuse the deployment only after making the revision, on every pass."""
        if self._target is None:
            try:
                await self.publisher.target(self.settings.environment, self.settings.vhost)
                self._target = ""
            except PublisherError as exc:
                self._target = str(exc)
        if self._target:
            raise PublisherError(self._target)

    # -- the loops ------------------------------------------------------------------------------------------

    async def run(self) -> None:
        backoff = 0.5
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.queue.get(), self.resync)
            while not self.queue.empty():
                self.queue.get_nowait()
            if not self.leader():
                continue
            try:
                await self.sync()
                backoff = 0.5
            except (PublisherError, ApiError, Exception) as exc:  # APIM or the API server away: the next pass
                metrics.MESH_SYNC_FAILURES.labels("export").inc()
                log.error("service export failed", extra={"error": str(exc) or type(exc).__name__,
                                                          "retry_in": backoff})  # fmt: skip
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                self.request()

    async def watch(self) -> None:
        """Any Service added, changed or deleted: a pass (the pass itself picks the exposed ones)."""
        while True:
            try:
                await asyncio.gather(*(self._watch(ns) for ns in self.namespaces))
            except Exception as exc:  # a watch ends on API server restarts and timeouts: start again
                log.debug("service watch ended", extra={"error": str(exc) or type(exc).__name__})
            await asyncio.sleep(1)

    async def _watch(self, namespace: str) -> None:
        async for _op, _obj in self.client.watch(Service, namespace=namespace):
            if self.leader():
                self.request()
