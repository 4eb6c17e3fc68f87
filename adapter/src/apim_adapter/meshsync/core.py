"""The pure core of mesh-sync: APIs as APIM's internal data API lists them, and each one's production endpoint
from its runtime artifact, in; the Istio objects that route them on the ingress gateway, and the report of the
APIs that cannot be routed, out. No I/O: the same inputs give the same objects.

One VirtualService per API *family* (the APIs sharing a context without its version, i.e. the versions of one
API): Istio merges the VirtualServices of one gateway host in creation order, so the default version's
`/httpbin/` prefix would shadow `/httpbin/2.0.0/` if the two versions lived in different objects. In one object
the versioned routes come first and the default version's last, so `/httpbin/1.0.0/...` always reaches 1.0.0.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MANAGED_BY = "apim-mesh-sync"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_FAMILY = "apim.wso2.com/context-hash"  # a label value cannot hold a path: its hash
ANNOTATION_APIS = "apim.wso2.com/api-uuids"  # the APIs routed by the object, comma-separated
ANNOTATION_CONTEXT = "apim.wso2.com/context"
# Lifecycle states whose APIs the APIM gateway serves (APIConstants: PUBLISHED, PROTOTYPED, DEPRECATED); BLOCKED,
# RETIRED, CREATED and the rest are not routed, so their objects are garbage-collected.
ROUTED_STATES = frozenset({"PUBLISHED", "PROTOTYPED", "DEPRECATED"})
# http(s)://<service>.<namespace>.svc[.<cluster domain>][:port][/base path]
_SERVICE_HOST = re.compile(
    r"^(?P<svc>[a-z0-9]([-a-z0-9]*[a-z0-9])?)\.(?P<ns>[a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.(?P<domain>.+))?$"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Settings:
    namespace: str  # where the objects live
    gateways: tuple[str, ...]  # e.g. istio-system/istio-ingressgateway
    hosts: tuple[str, ...] = ("*",)
    cluster_domain: str = "cluster.local"
    traffic_policy: Mapping[str, Any] | None = None  # a DestinationRule per backend Service when set


@dataclass(frozen=True)
class Endpoint:
    """What the runtime artifact says about an API's production endpoint: `urls` for http/address endpoints,
    else the `endpoint_type` that cannot be routed (load_balance, failover, default, awslambda, ...)."""

    endpoint_type: str
    urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Problem:
    """An API deployed to the gateway environment that mesh-sync does not route, and why."""

    api_id: str
    name: str
    version: str
    context: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"apiId": self.api_id, "name": self.name, "version": self.version, "context": self.context,
                "reason": self.reason}  # fmt: skip


@dataclass(frozen=True)
class Backend:
    host: str  # <svc>.<ns>.svc.<cluster domain>
    port: int
    tls: bool
    base_path: str  # "" or "/base", never a trailing slash


@dataclass
class Plan:
    objects: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    routed: list[str] = field(default_factory=list)  # API uuids


def default_context(context: str, version: str) -> str:
    """The default version's context: the context without its last `/<version>` segment."""
    segment = "/" + version
    at = context.rfind(segment)
    if not version or at < 0 or (at + len(segment) < len(context) and context[at + len(segment)] != "/"):
        return context
    return (context[:at] + context[at + len(segment) :]) or "/"


def backend(url: str, cluster_domain: str) -> Backend | str:
    """The in-cluster Service an endpoint URL names, or why it is not one (the reason never echoes the URL:
    it may carry credentials)."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return "endpoint URL is not valid"
    if parts.scheme not in _DEFAULT_PORTS:
        return f"endpoint scheme {parts.scheme or '(none)'!r} is not http or https"
    if parts.username is not None or parts.password is not None:
        return "endpoint URL carries credentials"
    match = _SERVICE_HOST.match((parts.hostname or "").lower())
    if match is None or match["domain"] not in (None, cluster_domain):
        return "endpoint is outside the cluster (not <service>.<namespace>.svc)"
    if parts.query or parts.fragment:
        return "endpoint URL has a query or fragment"
    host = f"{match['svc']}.{match['ns']}.svc.{cluster_domain}"
    return Backend(host, port or _DEFAULT_PORTS[parts.scheme], parts.scheme == "https", parts.path.rstrip("/"))


def _slug(text: str, limit: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].strip("-") or "api"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _metadata(name: str, settings: Settings, family: str, uuids: Iterable[str]) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": settings.namespace,
        "labels": {LABEL_MANAGED_BY: MANAGED_BY, LABEL_FAMILY: _digest(family)},
        "annotations": {ANNOTATION_APIS: ",".join(sorted(uuids)), ANNOTATION_CONTEXT: family},
    }


def _routes(api: Mapping[str, Any], context: str, target: Backend) -> list[dict[str, Any]]:
    """Two routes for one context: the context itself and everything under it, each rewritten onto the
    endpoint's base path (`/httpbin/1.0.0/get` → `<base>/get`, `/httpbin/1.0.0` → `<base>` or `/`)."""
    destination = {"destination": {"host": target.host, "port": {"number": target.port}}}
    name = _slug(f"{api.get('name')}-{api.get('version')}", 40)
    prefix = context.rstrip("/")
    return [
        {
            "name": f"{name}-{_digest(context)}-exact",
            "match": [{"uri": {"exact": prefix or "/"}}],
            "rewrite": {"uri": target.base_path or "/"},
            "route": [destination],
        },
        {
            "name": f"{name}-{_digest(context)}-prefix",
            "match": [{"uri": {"prefix": prefix + "/"}}],
            "rewrite": {"uri": target.base_path + "/"},
            "route": [destination],
        },
    ]


def plan(apis: Iterable[Mapping[str, Any]], endpoints: Mapping[str, Endpoint | None], settings: Settings) -> Plan:
    """The desired objects. `apis` as `/apis?gatewayLabel=` lists them (their `context`, `isDefaultVersion` and
    `status` are the current ones); `endpoints[uuid]` from the API's runtime artifact, None when APIM had none."""
    out = Plan()
    families: dict[str, list[tuple[Mapping[str, Any], Backend]]] = {}
    for api in sorted(apis, key=lambda a: (str(a.get("context")), str(a.get("uuid")))):
        uuid, context, version = str(api.get("uuid") or ""), api.get("context"), str(api.get("version") or "")
        if not uuid or not isinstance(context, str) or not context.startswith("/"):
            continue
        if api.get("status") not in ROUTED_STATES:
            continue

        def problem(reason: str, api: Mapping[str, Any] = api, uuid: str = uuid, context: str = context) -> None:
            out.problems.append(Problem(uuid, str(api.get("name")), str(api.get("version")), context, reason))

        if api.get("apiType", "HTTP") not in ("HTTP", "REST"):  # WS, GRAPHQL, SOAP, ...: their own gateway handling
            problem(f"API type {api.get('apiType')!r} is not routed (HTTP APIs only)")
            continue

        endpoint = endpoints.get(uuid)
        if endpoint is None:
            problem("no runtime artifact for the gateway environment")
            continue
        if endpoint.endpoint_type not in ("http", "address"):
            problem(f"endpoint type {endpoint.endpoint_type!r} is not routed (one in-cluster http endpoint only)")
            continue
        if len(endpoint.urls) != 1:
            problem("no production endpoint" if not endpoint.urls else "more than one production endpoint")
            continue
        target = backend(endpoint.urls[0], settings.cluster_domain)
        if isinstance(target, str):
            problem(target)
            continue
        families.setdefault(default_context(context, version), []).append((api, target))
    backends: dict[str, tuple[set[int], set[str]]] = {}
    for family, members in sorted(families.items()):
        defaults = [(api, target) for api, target in members if api.get("isDefaultVersion") is True]
        if len(defaults) > 1:
            reason = "more than one default version: the unversioned context is not routed"
            for api, _ in defaults:
                name, version = str(api.get("name")), str(api.get("version"))
                out.problems.append(Problem(str(api["uuid"]), name, version, family, reason))
            defaults = []
        routes = [route for api, target in members for route in _routes(api, api["context"], target)]
        for api, target in defaults:
            if family != api["context"]:
                routes += _routes(api, family, target)
        spec = {"hosts": list(settings.hosts), "gateways": list(settings.gateways), "http": routes}
        name = f"apim-{_slug(family, 40)}-{_digest(family)}"
        uuids = [str(api["uuid"]) for api, _ in members]
        out.objects.append({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                            "metadata": _metadata(name, settings, family, uuids), "spec": spec})  # fmt: skip
        out.routed += uuids
        for api, target in members:
            ports, users = backends.setdefault(target.host, (set(), set()))
            users.add(str(api["uuid"]))
            if target.tls:
                ports.add(target.port)
    for host, (tls_ports, users) in sorted(backends.items()):
        if settings.traffic_policy is None and not tls_ports:
            continue
        policy: dict[str, Any] = dict(settings.traffic_policy or {})
        if tls_ports:  # an https endpoint: the gateway originates TLS to it, as APIM's gateway would
            policy["portLevelSettings"] = [
                {"port": {"number": port}, "tls": {"mode": "SIMPLE", "sni": host}} for port in sorted(tls_ports)
            ]
        name = f"apim-{_slug(host.split('.svc.')[0], 40)}-{_digest(host)}"
        metadata = _metadata(name, settings, host, users)
        spec = {"host": host, "trafficPolicy": policy}
        out.objects.append(
            {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": metadata, "spec": spec}
        )
    return out
