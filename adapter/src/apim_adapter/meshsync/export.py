"""The pure core of the Kubernetes → APIM direction: a Service's annotations, its OpenAPI document and the API APIM
already holds in; the Publisher API calls that make APIM match, or the problem to report on the Service, out.
No I/O: `services` reads Kubernetes, `publisher` calls APIM, `run` drives both.

An API is ours when it carries the additional property `istio-apim-service: <namespace>/<name>` (set at
creation, `display: false`): only those are updated, deployed, published and retired. APIM's own checks stay
APIM's (a context taken by another API, a tier that does not exist): its refusal is reported like an annotation
error.

What is compared, so that a pass over an unchanged Service makes no call that writes: the tiers (`policies`),
`visibility`, `isDefaultVersion`, the security scheme where the Service names one, the production and sandbox
endpoint and our properties, among them the SHA-256 of the OpenAPI document as we read it (APIM rewrites the stored
definition with its `x-wso2-*` extensions, so the stored copy can never be compared with ours). A new revision is
deployed only when one of these changed or the gateway environment has no deployment of the API; the API is
published only from CREATED or PROTOTYPED.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..catalog import AUTHENTICATING_SCHEMES, SECURITY_SCHEMES  # a scheme must name an authenticating one

PREFIX = "apim.istio-apim.io/"
EXPOSE = PREFIX + "expose"
PROPERTY_OWNER = "istio-apim-service"
PROPERTY_DEFINITION = "istio-apim-openapi-sha256"
PENDING = "pending"  # the definition property of an API whose document is not uploaded yet
DEFAULT_CONFIGMAP_KEY = "openapi.yaml"
# Lifecycle (carbon-apimgt components/apimgt/org.wso2.carbon.apimgt.impl/src/main/resources/lifecycle/
# APILifeCycle.json, APIM 4.5's default): Retire exists only from Deprecated, Deprecate only from Published and
# Blocked; Created and Prototyped reach neither without being published first.
RETIRE_STEPS = {"PUBLISHED": ("Deprecate", "Retire"), "BLOCKED": ("Deprecate", "Retire"), "DEPRECATED": ("Retire",)}
PUBLISHABLE = frozenset({"CREATED", "PROTOTYPED"})
# Our own limits, checked before APIM sees them: the version becomes a segment of the gateway context.
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,29}$")
_CONTEXT = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,59}$")
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_CONFIGMAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


@dataclass(frozen=True)
class Settings:
    environment: str  # gateway environment revisions are deployed to
    vhost: str = "localhost"
    cluster_domain: str = "cluster.local"
    tiers: tuple[str, ...] = ("Unlimited",)
    visibility: str = "PUBLIC"
    on_removal: str = "retire"  # or "delete"


@dataclass(frozen=True)
class Port:
    name: str
    port: int
    app_protocol: str | None = None


@dataclass(frozen=True)
class Service:
    namespace: str
    name: str
    annotations: Mapping[str, str]
    ports: tuple[Port, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def exposed(self) -> bool:
        return self.annotations.get(EXPOSE, "").strip().lower() == "true"


@dataclass(frozen=True)
class FromConfigMap:
    name: str
    key: str


@dataclass(frozen=True)
class FromUrl:
    url: str  # on the Service itself, through its cluster DNS name


@dataclass(frozen=True)
class Spec:
    """What a Service's annotations ask for."""

    owner: str  # <namespace>/<name>
    name: str
    version: str
    context: str
    tiers: tuple[str, ...]
    visibility: str
    default_version: bool
    endpoint: str
    source: FromConfigMap | FromUrl
    security_scheme: tuple[str, ...] | None = None  # None: the Service names none, and APIM's stays as it is


class Invalid(ValueError):
    """An annotation, or the OpenAPI document it names, that cannot be exported; the message goes into a
    Kubernetes Event on the Service and the log (it never carries the document)."""


def _flag(annotations: Mapping[str, str], key: str, default: bool) -> bool:
    raw = annotations.get(PREFIX + key)
    if raw is None:
        return default
    if raw.strip().lower() not in ("true", "false"):
        raise Invalid(f"{PREFIX}{key}: must be true or false, got {raw!r}")
    return raw.strip().lower() == "true"


def _port(service: Service, wanted: str | None) -> Port:
    if wanted:
        found = [p for p in service.ports if p.name == wanted or str(p.port) == wanted]
        if not found:
            raise Invalid(f"{PREFIX}port: the Service has no port {wanted!r}")
        return found[0]
    if len(service.ports) != 1:
        raise Invalid(f"{PREFIX}port: required when the Service has {len(service.ports)} ports")
    return service.ports[0]


def spec(service: Service, settings: Settings) -> Spec:
    """The API a Service's annotations describe, or `Invalid` naming the annotation at fault."""
    a = {k: v.strip() for k, v in service.annotations.items() if k.startswith(PREFIX)}
    context, version = a.get(PREFIX + "context", ""), a.get(PREFIX + "version", "")
    if not context:
        raise Invalid(f"{PREFIX}context: required (e.g. /httpbin)")
    context = "/" + context.strip("/")
    if "{version}" in context or not _CONTEXT.match(context):
        raise Invalid(f"{PREFIX}context: {context!r} is not a context (/segment[/segment...], no {{version}})")
    if not version:
        raise Invalid(f"{PREFIX}version: required (e.g. 1.0.0)")
    if not _VERSION.match(version):
        raise Invalid(f"{PREFIX}version: {version!r} is not a version (letters, digits, . _ -, up to 30)")
    name = a.get(PREFIX + "name") or service.name
    if not _NAME.match(name):
        raise Invalid(f"{PREFIX}name: {name!r} is not an API name (letters, digits, space . _ -, up to 60)")
    tiers = tuple(t.strip() for t in a.get(PREFIX + "tiers", "").split(",") if t.strip()) or settings.tiers
    visibility = a.get(PREFIX + "visibility", settings.visibility).upper()
    if visibility not in ("PUBLIC", "PRIVATE"):
        raise Invalid(f"{PREFIX}visibility: must be PUBLIC or PRIVATE, got {visibility!r}")
    security_scheme = _security_scheme(a.get(PREFIX + "security-scheme"))
    port = _port(service, a.get(PREFIX + "port"))
    tls = (port.app_protocol or "").lower() == "https" or port.name == "https" or port.name.startswith("https-")
    host = f"{service.name}.{service.namespace}.svc.{settings.cluster_domain}"
    endpoint = f"{'https' if tls else 'http'}://{host}:{port.port}"
    configmap, url = a.get(PREFIX + "openapi-configmap"), a.get(PREFIX + "openapi-url")
    if bool(configmap) == bool(url):
        raise Invalid(f"{PREFIX}openapi-configmap or {PREFIX}openapi-url: exactly one is required")
    source: FromConfigMap | FromUrl
    if configmap:
        cm_name, _, key = configmap.partition("/")
        key = key or DEFAULT_CONFIGMAP_KEY
        if not _K8S_NAME.match(cm_name) or not _CONFIGMAP_KEY.match(key):
            raise Invalid(f"{PREFIX}openapi-configmap: {configmap!r} is not <configmap name>[/<key>]")
        source = FromConfigMap(cm_name, key)
    else:
        path = "/" + str(url).lstrip("/")
        if "://" in str(url) or any(c in path for c in " ?#"):
            raise Invalid(f"{PREFIX}openapi-url: a path on the Service (e.g. /openapi.json), got {url!r}")
        source = FromUrl(endpoint + path)
    return Spec(service.key, name, version, context, tiers, visibility, _flag(a, "default-version", True),
                endpoint, source, security_scheme)  # fmt: skip


def _security_scheme(raw: str | None) -> tuple[str, ...] | None:
    """The API's securityScheme, in the Publisher's own words (`oauth2,api_key,oauth_basic_auth_api_key_mandatory`
    takes OAuth2 tokens and API keys), or None when the annotation is absent."""
    if raw is None:
        return None
    schemes = tuple(dict.fromkeys(s.strip() for s in raw.split(",") if s.strip()))
    unknown = [s for s in schemes if s not in SECURITY_SCHEMES]
    if unknown:
        raise Invalid(f"{PREFIX}security-scheme: {unknown[0]!r} is not one of {', '.join(sorted(SECURITY_SCHEMES))}")
    if not AUTHENTICATING_SCHEMES.intersection(schemes):
        raise Invalid(f"{PREFIX}security-scheme: names none of {', '.join(sorted(AUTHENTICATING_SCHEMES))}")
    return schemes


def definition(text: str | bytes) -> tuple[str, str]:
    """An OpenAPI 3 or Swagger 2 document (YAML or JSON) checked as far as APIM needs it to make an API (a
    version marker and a `paths` mapping), as (the text to upload, its SHA-256 over a canonical form, so that
    reformatting the ConfigMap does not make a new revision)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise Invalid(f"the OpenAPI document is not YAML or JSON{where}") from None
    if not isinstance(document, dict):
        raise Invalid("the OpenAPI document is not a mapping")
    openapi, swagger = document.get("openapi"), document.get("swagger")
    if not (isinstance(openapi, str) and openapi.startswith("3.")) and str(swagger) != "2.0":
        raise Invalid('the OpenAPI document has neither `openapi: 3.x` nor `swagger: "2.0"`')
    paths = document.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise Invalid("the OpenAPI document has no paths")
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return json.dumps(document, default=str), hashlib.sha256(canonical.encode()).hexdigest()


# -- what we set, and what we compare --------------------------------------------------------------------------


def properties(api: Mapping[str, Any]) -> dict[str, str]:
    """An API's additional properties by name: `additionalProperties` is a list of {name, value, display} in
    the Publisher API v4 (and `additionalPropertiesMap` the same by key; APIMappingUtil.fromAPIToInfoDTO fills
    both, in lists too)."""
    out: dict[str, str] = {}
    for prop in api.get("additionalProperties") or []:
        if isinstance(prop, dict) and isinstance(prop.get("name"), str):
            out[prop["name"]] = str(prop.get("value"))
    for key, prop in (api.get("additionalPropertiesMap") or {}).items():
        if isinstance(prop, dict):
            out.setdefault(str(prop.get("name") or key), str(prop.get("value")))
    return out


def owner(api: Mapping[str, Any]) -> str | None:
    return properties(api).get(PROPERTY_OWNER)


def managed_fields(want: Spec) -> dict[str, Any]:
    """The API fields this direction owns; everything else an operator sets in the Publisher stays."""
    url = {"url": want.endpoint}
    fields: dict[str, Any] = {
        "policies": list(want.tiers),
        "visibility": want.visibility,
        "isDefaultVersion": want.default_version,
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": url, "sandbox_endpoints": url},
    }
    if want.security_scheme is not None:
        fields["securityScheme"] = list(want.security_scheme)
    return fields


def _properties_list(api: Mapping[str, Any], ours: Mapping[str, str]) -> list[dict[str, Any]]:
    kept = [p for p in api.get("additionalProperties") or [] if isinstance(p, dict) and p.get("name") not in ours]
    return kept + [{"name": k, "value": v, "display": False} for k, v in sorted(ours.items())]


METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _operation_scopes(operation: Any) -> list[str]:
    """The scopes an operation's `security` requirements name (APIM writes them under its `default` scheme)."""
    out: list[str] = []
    for requirement in (operation.get("security") if isinstance(operation, dict) else None) or []:
        for names in requirement.values() if isinstance(requirement, dict) else ():
            out += [str(n) for n in names or [] if str(n) not in out]
    return out


# An operation's advanced (API-level) policy, as APIM reads it from a definition: `x-throttling-tier`, or the
# `x-wso2-throttling-tier` its pre-processing renames to it (carbon-apimgt 9.31.86 OAS3Parser/OAS2Parser
# `getURITemplates`, `injectMgwThrottlingExtensionsToDefault`).
THROTTLING_TIERS = ("x-throttling-tier", "x-wso2-throttling-tier")


def _operation_tier(operation: Any) -> str | None:
    for key in THROTTLING_TIERS:
        tier = operation.get(key) if isinstance(operation, dict) else None
        if isinstance(tier, str) and tier.strip():
            return tier
    return None


def operations(document: str) -> list[dict[str, Any]]:
    """The document's operations as the API body lists them (`target`, `verb`, `scopes`, and `throttlingPolicy`
    where the document names the resource's policy)."""
    paths = json.loads(document).get("paths") or {}
    out = []
    for path, item in paths.items():
        for verb, op in item.items() if isinstance(item, dict) else ():
            if verb in METHODS:
                operation = {"target": path, "verb": verb.upper(), "scopes": _operation_scopes(op)}
                tier = _operation_tier(op)
                if tier is not None:
                    operation["throttlingPolicy"] = tier
                out.append(operation)
    return out


def scopes(document: str) -> list[dict[str, Any]]:
    """The API's scopes (`APIScope`), from the document's OAuth2 schemes as APIM writes them (the `default`
    scheme's flow scopes, their role bindings in `x-scopes-bindings`, comma-separated); a scope an operation names
    without declaring it is declared with no binding (any role)."""
    parsed = json.loads(document)
    declared: dict[str, tuple[str, list[str]]] = {}
    schemes = ((parsed.get("components") or {}).get("securitySchemes") or {}) if isinstance(parsed, dict) else {}
    for scheme in schemes.values() if isinstance(schemes, dict) else ():
        for flow in ((scheme.get("flows") or {}) if isinstance(scheme, dict) else {}).values():
            if not isinstance(flow, dict):
                continue
            bindings = flow.get("x-scopes-bindings") or {}
            for name, description in (flow.get("scopes") or {}).items():
                roles = [r.strip() for r in str(bindings.get(name) or "").split(",") if r.strip()]
                declared.setdefault(str(name), (str(description or ""), roles))
    for operation in operations(document):
        for name in operation["scopes"]:
            declared.setdefault(name, ("", []))
    return [{"scope": {"name": name, "displayName": name, "description": description, "bindings": roles},
             "shared": False} for name, (description, roles) in sorted(declared.items())]  # fmt: skip


def create_body(want: Spec, digest: str, document: str) -> dict[str, Any]:
    """The body of `POST /apis` (the `API` schema: name, version and context required). The definition itself
    follows with `PUT /apis/{apiId}/swagger`, from which APIM takes the resources and their scopes: `POST /apis`
    is the create call whose JSON body the Publisher validates against its schema, which the multipart
    `import-openapi` (a stringified `additionalProperties`) does not."""
    ours = {PROPERTY_OWNER: want.owner, PROPERTY_DEFINITION: digest}
    return {
        "name": want.name,
        "version": want.version,
        "context": want.context,
        "description": f"Exported from the Kubernetes Service {want.owner} by apim-adapter mesh-sync.",
        "type": "HTTP",
        "transport": ["http", "https"],
        **managed_fields(want),
        "operations": operations(document),
        "scopes": scopes(document),
        "additionalProperties": _properties_list({}, ours),
    }


def differences(api: Mapping[str, Any], want: Spec, digest: str) -> list[str]:
    """The managed fields of `api` (as `GET /apis/{apiId}` answers) that differ from what we want."""
    out = []
    if sorted(api.get("policies") or []) != sorted(want.tiers):
        out.append("tiers")
    if api.get("visibility") != want.visibility:
        out.append("visibility")
    if bool(api.get("isDefaultVersion")) != want.default_version:
        out.append("default version")
    if want.security_scheme is not None and sorted(api.get("securityScheme") or []) != sorted(want.security_scheme):
        out.append("security scheme")
    endpoints = api.get("endpointConfig") or {}
    production = (endpoints.get("production_endpoints") or {}) if isinstance(endpoints, dict) else {}
    sandbox = (endpoints.get("sandbox_endpoints") or {}) if isinstance(endpoints, dict) else {}
    if (
        not isinstance(endpoints, dict)
        or endpoints.get("endpoint_type") != "http"
        or not isinstance(production, dict)
        or production.get("url") != want.endpoint
        or not isinstance(sandbox, dict)
        or sandbox.get("url") != want.endpoint
    ):
        out.append("endpoint")
    props = properties(api)
    if props.get(PROPERTY_DEFINITION) != digest:
        out.append("OpenAPI document")
    elif props.get(PROPERTY_OWNER) != want.owner:
        out.append("owner")
    return out


def updated_body(api: Mapping[str, Any], want: Spec, digest: str, document: str) -> dict[str, Any]:
    """`PUT /apis/{apiId}` takes the whole API: the current one with our fields replaced, and its operations and
    scopes those of the document (an operation's other settings kept from APIM's copy, its tier where the document
    names none: after a definition upload, which sets every tier the document names and resets the others to the
    default, that is APIM's default)."""
    body = {k: v for k, v in api.items() if k not in ("additionalPropertiesMap",)}
    body.update(managed_fields(want))
    current = {(o.get("target"), o.get("verb")): o for o in api.get("operations") or [] if isinstance(o, dict)}
    body["operations"] = [{**current.get((o["target"], o["verb"]), {}), **o} for o in operations(document)]
    body["scopes"] = scopes(document)
    body["additionalProperties"] = _properties_list(api, {PROPERTY_OWNER: want.owner, PROPERTY_DEFINITION: digest})
    return body


# -- the plan ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One Publisher API call. `op`: create, definition, update (`body`: the Spec and digest to lay over the API
    read just before), revise (a revision, then deployed), publish, lifecycle (`action`), delete."""

    op: str
    body: Any = None
    action: str = ""
    definition: str = ""  # the OpenAPI document, for definition and update


@dataclass
class ApiPlan:
    api_id: str | None  # None until `create` answers
    label: str  # "<name> <version>", for logs and events
    steps: list[Step] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


def plan_export(
    want: Spec,
    text: str,
    digest: str,
    api: Mapping[str, Any] | None,
    deployed_to: Iterable[str],
    settings: Settings,
) -> ApiPlan:
    """The calls that make APIM hold `want`: `api` is our API of that name and version (`GET /apis/{apiId}`) or
    None, `deployed_to` the environments its deployments name (`GET /apis/{apiId}/deployments`)."""
    label = f"{want.name} {want.version}"
    if api is None:
        # The digest goes in last (`update`), after the definition: if a step fails on the way, the next pass
        # still sees the document as not uploaded and uploads it.
        steps = [Step("create", create_body(want, PENDING, text)), Step("definition", definition=text),
                 Step("update", (want, digest), definition=text), Step("revise"), Step("publish")]  # fmt: skip
        changes = ["created", f"revision deployed to {settings.environment}", "published"]
        return ApiPlan(None, label, steps, changes)
    out = ApiPlan(str(api["id"]), label)
    status = str(api.get("lifeCycleStatus") or "").upper()
    if status not in PUBLISHABLE and status != "PUBLISHED":
        # Blocked, deprecated or retired by someone in the Publisher: not ours to undo.
        raise Invalid(f"API {label} is {status} in APIM: left as it is (export a new version to replace it)")
    current = str(api.get("context") or "")
    if current and current.rstrip("/") not in (want.context, f"{want.context}/{want.version}"):
        raise Invalid(f"{PREFIX}context: API {label} has the context {current!r} and APIM does not change an API's "
                      f"context: export a new version to move it")  # fmt: skip
    changed = differences(api, want, digest)
    if "OpenAPI document" in changed:
        out.steps.append(Step("definition", definition=text))
    if changed:
        # The body is made from the API as it is after the definition step: `PUT /apis/{apiId}` also writes the
        # operations it carries, and the new definition has just changed them.
        out.steps.append(Step("update", (want, digest), definition=text))
        out.changes += [f"{c} updated" for c in changed]
    if changed or settings.environment not in set(deployed_to):
        out.steps.append(Step("revise"))
        out.changes.append(f"revision deployed to {settings.environment}")
    if status in PUBLISHABLE:
        out.steps.append(Step("publish"))
        out.changes.append("published")
    return out


def plan_removal(api: Mapping[str, Any], settings: Settings) -> ApiPlan:
    """Retire (or delete) one of our APIs that no Service exports any more."""
    label = f"{api.get('name')} {api.get('version')}"
    out = ApiPlan(str(api["id"]), label)
    status = str(api.get("lifeCycleStatus") or "").upper()
    if settings.on_removal == "delete":
        out.steps, out.changes = [Step("delete")], ["deleted"]
    elif status in RETIRE_STEPS:
        out.steps = [Step("lifecycle", action=a) for a in RETIRE_STEPS[status]]
        out.changes = ["retired"]
    elif status in PUBLISHABLE:  # never published: no subscriber to keep, and no lifecycle path to Retired
        out.steps, out.changes = [Step("delete")], ["deleted (never published)"]
    return out


def unwanted(
    owned: Sequence[Mapping[str, Any]], exposing: Mapping[str, Spec | None], failing: Iterable[str] = ()
) -> list[Mapping[str, Any]]:
    """Our APIs to retire: those whose Service no longer exposes one, and the other versions of a Service that
    now exports a new one. A Service whose annotations are broken right now keeps what it has (`failing`): a
    typo must not retire a live API."""
    keep = set(failing)
    out = []
    for api in owned:
        key = owner(api)
        if key is None or key in keep or str(api.get("lifeCycleStatus", "")).upper() == "RETIRED":
            continue
        want = exposing.get(key)
        if key not in exposing or (
            want is not None and (api.get("name"), api.get("version")) != (want.name, want.version)
        ):
            out.append(api)
    return out
