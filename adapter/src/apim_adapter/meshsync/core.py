"""The pure core of mesh-sync: APIs as APIM's internal data API lists them, and each one's production endpoint
from its runtime artifact, in; the Istio objects that route them on the ingress gateway, and the report of the
APIs that cannot be routed, out. No I/O: the same inputs give the same objects.

One VirtualService per API *family* (the APIs sharing a context without its version, i.e. the versions of one
API): Istio merges the VirtualServices of one gateway host in creation order, so the default version's
`/httpbin/` prefix would shadow `/httpbin/2.0.0/` if the two versions lived in different objects. In one object
the versioned routes come first and the default version's last, so `/httpbin/1.0.0/...` always reaches 1.0.0.

With `routeKind: HTTPRoute` (Gateway API), one HTTPRoute per family too, for the same names, ownership and
garbage collection; there the order does not matter: a gateway picks the longest matching path prefix across
all routes (gateway-api apis/v1/httproute_types.go, HTTPRouteRule: "Prefix path match with largest number of
characters" before creation order). An HTTPRoute holds at most 16 rules (the CRD's maxItems), so a family of more
than 16 contexts is split over several, named `-2`, `-3`, ...
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
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
GATEWAY_API = "gateway.networking.k8s.io"
ROUTE_KINDS = frozenset({"VirtualService", "HTTPRoute"})  # meshSync.routeKind
MAX_HTTPROUTE_RULES = 16  # gateway-api apis/v1/httproute_types.go, HTTPRouteSpec.Rules: MaxItems=16


@dataclass(frozen=True)
class Settings:
    namespace: str  # where the objects live
    gateways: tuple[str, ...]  # e.g. istio-system/istio-ingressgateway
    hosts: tuple[str, ...] = ("*",)
    cluster_domain: str = "cluster.local"
    traffic_policy: Mapping[str, Any] | None = None  # a DestinationRule per backend Service when set
    route_kind: str = "VirtualService"  # or HTTPRoute (Gateway API)


PRODUCT = "product"  # the endpoint type of an API Product: the endpoints of the APIs it bundles


@dataclass(frozen=True)
class Endpoint:
    """What the runtime artifact says about an API's production endpoint: `urls` for http/address endpoints,
    else the `endpoint_type` that cannot be routed (load_balance, failover, default, awslambda, ...). An API
    Product's (`PRODUCT`) is the APIs it `bundled`."""

    endpoint_type: str
    urls: tuple[str, ...] = ()
    bundled: tuple[Bundled, ...] = ()


@dataclass(frozen=True)
class Bundled:
    """An API an API Product bundles: its production endpoint and the URL patterns (`targets`) of the operations
    the product took from it, as the product's revision holds them."""

    api_id: str
    endpoint: Endpoint
    targets: tuple[str, ...]


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
    service: str
    namespace: str
    cluster_domain: str
    port: int
    tls: bool
    base_path: str  # "" or "/base", never a trailing slash

    @property
    def host(self) -> str:
        return f"{self.service}.{self.namespace}.svc.{self.cluster_domain}"


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
    port = port or _DEFAULT_PORTS[parts.scheme]
    return Backend(match["svc"], match["ns"], cluster_domain, port, parts.scheme == "https", parts.path.rstrip("/"))


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


def _route_name(api: Mapping[str, Any], context: str) -> str:
    name = _slug(f"{api.get('name')}-{api.get('version')}", 40)
    return f"{name}-{_digest(context)}"


def _routes(api: Mapping[str, Any], context: str, target: Backend) -> list[dict[str, Any]]:
    """Two VirtualService routes for one context: the context itself and everything under it, each rewritten onto
    the endpoint's base path (`/httpbin/1.0.0/get` → `<base>/get`, `/httpbin/1.0.0` → `<base>` or `/`)."""
    destination = {"destination": {"host": target.host, "port": {"number": target.port}}}
    name = _route_name(api, context)
    prefix = context.rstrip("/")
    return [
        {
            "name": f"{name}-exact",
            "match": [{"uri": {"exact": prefix or "/"}}],
            "rewrite": {"uri": target.base_path or "/"},
            "route": [destination],
        },
        {
            "name": f"{name}-prefix",
            "match": [{"uri": {"prefix": prefix + "/"}}],
            "rewrite": {"uri": target.base_path + "/"},
            "route": [destination],
        },
    ]


def _rule(api: Mapping[str, Any], context: str, target: Backend) -> dict[str, Any]:
    """One HTTPRoute rule for one context. A `PathPrefix` match is by whole path segments, the context itself
    included (`/httpbin/1.0.0` and `/httpbin/1.0.0/get`, not `/httpbin/1.0.0x`), and `ReplacePrefixMatch` puts
    the base path in its place: `/httpbin/1.0.0/get` → `<base>/get`, `/httpbin/1.0.0` → `<base>` or `/`
    (gateway-api apis/v1/httproute_types.go, HTTPPathModifier.ReplacePrefixMatch and its table; Istio reads `/`
    as removing the prefix, pilot/pkg/config/kube/gateway/conversion.go, createRewriteFilter). The backend is
    the Service itself, by name and namespace: Gateway API routes name Services, not hosts."""
    rewrite = {"type": "ReplacePrefixMatch", "replacePrefixMatch": target.base_path or "/"}
    return {
        "name": _route_name(api, context),
        "matches": [{"path": {"type": "PathPrefix", "value": context.rstrip("/") or "/"}}],
        "filters": [{"type": "URLRewrite", "urlRewrite": {"path": rewrite}}],
        "backendRefs": [{"name": target.service, "namespace": target.namespace, "port": target.port}],
    }


# gateway-api apis/v1/shared_types.go: Namespace (a DNS label), SectionName (a DNS subdomain), Hostname (a DNS
# subdomain, a leading `*.` at most), ObjectName (1 to 253 characters).
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def parent_ref(gateway: str) -> dict[str, str] | None:
    """`name` (a Gateway in the routes' namespace), `namespace/name` or `namespace/name/listener` (one listener,
    its sectionName) as a Gateway API parentRef; None when it cannot be one."""
    parts = gateway.split("/")
    if len(parts) == 1:
        namespace, name, section = "", parts[0], ""
    elif len(parts) == 2:
        (namespace, name), section = parts, ""
    elif len(parts) == 3:
        namespace, name, section = parts
    else:
        return None
    if not 1 <= len(name) <= 253:
        return None
    if len(parts) > 1 and not (len(namespace) <= 63 and _DNS_LABEL.fullmatch(namespace)):
        return None
    if len(parts) == 3 and not (len(section) <= 253 and _DNS_SUBDOMAIN.fullmatch(section)):
        return None
    ref = {"group": GATEWAY_API, "kind": "Gateway", "name": name}
    return {**ref, **({"namespace": namespace} if namespace else {}), **({"sectionName": section} if section else {})}


def gateway_api_hostname(host: str) -> bool:
    return len(host) <= 253 and _DNS_SUBDOMAIN.fullmatch(host.removeprefix("*.")) is not None


def _family_objects(
    family: str, entries: list[tuple[Mapping[str, Any], str, Backend]], settings: Settings
) -> list[dict[str, Any]]:
    """The route objects of one family; `entries` are (API, context, backend), the versioned contexts first."""
    name = f"apim-{_slug(family, 40)}-{_digest(family)}"
    if settings.route_kind == "VirtualService":
        routes = [route for api, context, target in entries for route in _routes(api, context, target)]
        spec = {"hosts": list(settings.hosts), "gateways": list(settings.gateways), "http": routes}
        metadata = _metadata(name, settings, family, {str(api["uuid"]) for api, _, _ in entries})
        return [{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": metadata, "spec": spec}]
    objects = []
    for at in range(0, len(entries), MAX_HTTPROUTE_RULES):
        chunk = entries[at : at + MAX_HTTPROUTE_RULES]
        spec = {
            "parentRefs": [parent_ref(gateway) for gateway in settings.gateways],
            **({} if "*" in settings.hosts else {"hostnames": list(settings.hosts)}),
            "rules": [_rule(api, context, target) for api, context, target in chunk],
        }
        part = name if at == 0 else f"{name}-{at // MAX_HTTPROUTE_RULES + 1}"
        metadata = _metadata(part, settings, family, {str(api["uuid"]) for api, _, _ in chunk})
        objects.append({"apiVersion": f"{GATEWAY_API}/v1", "kind": "HTTPRoute", "metadata": metadata, "spec": spec})
    return objects


def _under(context: str, suffix: str) -> str:
    return context if not suffix else context.rstrip("/") + suffix


def _target(endpoint: Endpoint, cluster_domain: str) -> Backend | str:
    """The one in-cluster Service of an API's endpoint, or why it is not routed."""
    if endpoint.endpoint_type not in ("http", "address"):
        return f"endpoint type {endpoint.endpoint_type!r} is not routed (one in-cluster http endpoint only)"
    if len(endpoint.urls) != 1:
        return "no production endpoint" if not endpoint.urls else "more than one production endpoint"
    return backend(endpoint.urls[0], cluster_domain)


def literal_prefix(pattern: str) -> str:
    """The whole path segments of a resource's URL pattern before its first template, wildcard or query: `/orders`
    for `/orders/{id}` and `/orders/*`, `/ip` for `/ip`, "" for `/*` and `/{id}` (the whole context)."""
    path = "/" + pattern.split("?", 1)[0].lstrip("/")
    cut = min((at for at in (path.find("{"), path.find("*")) if at >= 0), default=-1)
    if cut >= 0:
        path = path[: path.rfind("/", 0, cut + 1)]
    return path.rstrip("/")


def product_routes(endpoint: Endpoint, cluster_domain: str) -> list[tuple[str, Backend]] | str:
    """Where an API Product's requests go, or why it is not routed: for each path under the product's context
    (`suffix`), the bundled API's Service with the same path under its base path, the longest suffixes first. APIM's
    gateway sends each product resource to the API it came from; here each resource's literal prefix
    (`literal_prefix`) goes there, so a path under it that the product did not take reaches that Service too — and is
    refused by the adapter, which serves the product's resources alone (404)."""
    if not endpoint.bundled:
        return "an API product without bundled APIs in its revision"
    owners: dict[str, tuple[str, Backend]] = {}
    for bundled in endpoint.bundled:
        target = _target(bundled.endpoint, cluster_domain)
        if isinstance(target, str):
            return f"a bundled API ({bundled.api_id}): {target}"
        suffixes = sorted({literal_prefix(t) for t in bundled.targets}, key=len)
        kept = [s for i, s in enumerate(suffixes) if not any(s == o or s.startswith(o + "/") for o in suffixes[:i])]
        for suffix in kept:
            owner = owners.get(suffix)
            if owner is not None and owner[0] != bundled.api_id:
                return (
                    f"two bundled APIs ({owner[0]}, {bundled.api_id}) serve {suffix or '/'} under the product's context"
                )
            owners[suffix] = (bundled.api_id, replace(target, base_path=target.base_path + suffix))
    return [(suffix, owners[suffix][1]) for suffix in sorted(owners, key=lambda s: (-len(s), s))]


def plan(apis: Iterable[Mapping[str, Any]], endpoints: Mapping[str, Endpoint | None], settings: Settings) -> Plan:
    """The desired objects. `apis` as `/apis?gatewayLabel=` lists them (their `context`, `isDefaultVersion` and
    `status` are the current ones); `endpoints[uuid]` from the API's runtime artifact, None when APIM had none."""
    out = Plan()
    families: dict[str, list[tuple[Mapping[str, Any], str, Backend]]] = {}  # (API, path under its context, backend)
    for api in sorted(apis, key=lambda a: (str(a.get("context")), str(a.get("uuid")))):
        uuid, context, version = str(api.get("uuid") or ""), api.get("context"), str(api.get("version") or "")
        if not uuid or not isinstance(context, str) or not context.startswith("/"):
            continue
        if api.get("status") not in ROUTED_STATES:
            continue

        def problem(reason: str, api: Mapping[str, Any] = api, uuid: str = uuid, context: str = context) -> None:
            out.problems.append(Problem(uuid, str(api.get("name")), str(api.get("version")), context, reason))

        product = api.get("apiType") == "APIProduct"
        # A GraphQL API's calls are HTTP POSTs under its context, routed as an HTTP API's; WS, SOAP: their own handling.
        if not product and api.get("apiType", "HTTP") not in ("HTTP", "REST", "GRAPHQL"):
            problem(f"API type {api.get('apiType')!r} is not routed (HTTP and GraphQL APIs only)")
            continue

        endpoint = endpoints.get(uuid)
        if endpoint is None:
            problem("no runtime artifact for the gateway environment")
            continue
        if product != (endpoint.endpoint_type == PRODUCT):
            problem("the runtime artifact's project is not of the API's type")
            continue
        routes: list[tuple[str, Backend]] | str
        if product:
            routes = product_routes(endpoint, settings.cluster_domain)
        else:
            target = _target(endpoint, settings.cluster_domain)
            routes = target if isinstance(target, str) else [("", target)]
        if isinstance(routes, str):
            problem(routes)
            continue
        families.setdefault(default_context(context, version), []).extend((api, suffix, t) for suffix, t in routes)
    backends: dict[str, tuple[set[int], set[str]]] = {}
    for family, members in sorted(families.items()):
        defaults = [(api, suffix, target) for api, suffix, target in members if api.get("isDefaultVersion") is True]
        default_apis = {str(api["uuid"]): api for api, _, _ in defaults}
        if len(default_apis) > 1:
            reason = "more than one default version: the unversioned context is not routed"
            for uuid, api in default_apis.items():
                out.problems.append(Problem(uuid, str(api.get("name")), str(api.get("version")), family, reason))
            defaults = []
        entries = [(api, _under(str(api["context"]), suffix), target) for api, suffix, target in members]
        entries += [
            (api, _under(family, suffix), target) for api, suffix, target in defaults if family != api["context"]
        ]
        out.objects += _family_objects(family, entries, settings)
        out.routed += list(dict.fromkeys(str(api["uuid"]) for api, _, _ in members))
        for api, _, target in members:
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


# The route conditions a Gateway API controller sets on each parent it reconciles (gateway-api
# apis/v1/shared_types.go, RouteConditionAccepted and RouteConditionResolvedRefs; Istio writes both on every parent,
# pilot/pkg/config/kube/gateway/conditions.go, createRouteStatus).
ROUTE_CONDITIONS = ("Accepted", "ResolvedRefs")


def route_conditions(routes: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What the gateway controller refused in our HTTPRoutes: every `Accepted` or `ResolvedRefs` condition that is
    False for the route's current generation, per parent Gateway — a listener that does not admit routes from our
    namespace (`NotAllowedByListeners`), a backend namespace without a ReferenceGrant (`RefNotPermitted`), a
    Service that does not exist (`BackendNotFound`). `routes` as kube.converge lists them (name, generation, the
    APIs they route, status). A condition written for an older generation says nothing about the route as it is."""
    refused = []
    for route in sorted(routes, key=lambda r: str(r.get("name"))):
        status = route.get("status")
        parents = status.get("parents") if isinstance(status, Mapping) else None
        for parent in parents if isinstance(parents, list) else []:
            ref = parent.get("parentRef") or {}
            where = "/".join(filter(None, (ref.get("namespace"), ref.get("name"), ref.get("sectionName"))))
            for condition in parent.get("conditions") or []:
                observed = condition.get("observedGeneration")
                if condition.get("type") not in ROUTE_CONDITIONS or condition.get("status") != "False":
                    continue
                if observed is not None and route.get("generation") is not None and observed != route["generation"]:
                    continue
                refused.append({
                    "route": f"HTTPRoute/{route.get('name')}",
                    "apis": sorted(filter(None, str(route.get("apis") or "").split(","))),
                    "gateway": where,
                    "controller": str(parent.get("controllerName") or ""),
                    "condition": condition.get("type"),
                    "reason": str(condition.get("reason") or ""),
                    "message": str(condition.get("message") or "")[:500],
                })  # fmt: skip
    return refused
